"""The build switch: ``GATEWATCH_MYPYC=1`` compiles the request path's modules with mypyc;
without it the wheel is pure Python (py3-none-any) and needs no compiler.

Everything else about the package (its name, packages, package directories, data) is in
pyproject.toml; this file only adds the extension modules.
"""

from __future__ import annotations

import os

from setuptools import setup

# The modules every request runs through (the middlewares, the record and its lifecycle, the
# measurements, the aggregation and the sinks' per-request side). Listed once, here:
# gatewatch/_build.py and tests/test_build.py read this list. Each compiles to an extension
# module beside its source; the .py files ship too (tracebacks, inspect), shadowed at import.
# Left out: gatewatch/export/live/state.py, where a request only appends its record to a deque
# (the totals it adds them into are _totals.py's and _seconds.py's, compiled). Compiled by mypy
# 2.4.1, its snapshot writer thread crashed the process (tests/export/live/test_live_processes.py).
COMPILED_MODULES = (
    "gatewatch/record.py",
    "gatewatch/monitor.py",
    "gatewatch/_lifecycle.py",
    "gatewatch/_in_flight.py",
    "gatewatch/_labels.py",
    "gatewatch/_measure.py",
    "gatewatch/_histogram.py",
    "gatewatch/_batches.py",
    "gatewatch/asgi/middleware.py",
    "gatewatch/asgi/_exchange.py",
    "gatewatch/asgi/_read_only.py",
    "gatewatch/asgi/_step_timer.py",
    "gatewatch/asgi/_client_gone.py",
    "gatewatch/asgi/_routes.py",
    "gatewatch/wsgi/middleware.py",
    "gatewatch/wsgi/_response.py",
    "gatewatch/wsgi/_input.py",
    "gatewatch/export/prometheus/collector.py",
    "gatewatch/export/live/_totals.py",
    "gatewatch/export/live/_seconds.py",
)


def _extensions() -> list[object]:
    if os.environ.get("GATEWATCH_MYPYC", "") != "1":
        return []
    # Imported only here: the pure build needs neither mypy nor a compiler.
    from mypyc.build import mypycify

    # One group, named into the package: its shared library (the code of every module; each
    # module's own extension is a small shim) is gatewatch/_native__mypyc, importable wherever
    # gatewatch is, instead of a hash-named top-level module.
    # Its own mypy cache: mypyc's run would otherwise share make lint's .mypy_cache, whose
    # options differ (the Django plugin, the strictness), and leave it inconsistent.
    config = "_build_backend/mypyc.ini"
    arguments = ["--config-file", config, "--cache-dir", "build/mypyc-cache", *COMPILED_MODULES]
    return list(mypycify(arguments, opt_level="3", group_name="gatewatch._native"))


setup(ext_modules=_extensions())
