"""gatewatch's Grafana boards, provisioning and Prometheus rules, as package data.

This directory ships in the wheel as ``gatewatch.grafana`` (pyproject.toml maps it, as it maps
``examples/`` to ``gatewatch.demo.apps``): one set of files, read in a checkout as
``grafana/`` and written out of an installed gatewatch by ``gatewatch export-grafana DIR``.
"""
