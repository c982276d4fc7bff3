"""Which build runs: the request path compiled by mypyc, or pure Python.

The same source builds either way (setup.py: ``GATEWATCH_MYPYC=1`` compiles the modules of
``COMPILED_MODULES``). A compiled module is an extension module, which Python imports before a
``.py`` of the same name, so what runs is told by where a hot module was loaded from.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES


def compiled() -> bool:
    """True when the request path's modules run compiled (mypyc), False on the pure build."""
    import gatewatch.record

    return gatewatch.record.__file__.endswith(tuple(EXTENSION_SUFFIXES))


def build_name() -> str:
    """What ``gatewatch --version`` says about the build."""
    return "compiled (mypyc)" if compiled() else "pure Python"
