"""In-process benchmarks: what each middleware adds to a hello-world request, without a network.

Run ``python -m bench`` (or ``make bench``); ``--quick`` for a smoke run.
"""
