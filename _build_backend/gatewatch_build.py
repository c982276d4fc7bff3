"""gatewatch's build backend: setuptools', asking for mypy only when it compiles.

``GATEWATCH_MYPYC=1`` at build time compiles the request path with mypyc (setup.py); the pure
build needs setuptools alone. Listing mypy in ``[build-system] requires`` would download it
(and its own dependencies) into every isolated build, the pure ones included, and would make
a pure build fail where mypy has no wheel. PEP 517 lets a backend name extra requirements per
build (``get_requires_for_build_wheel``); this one adds the pinned mypy when compiling.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 - every other hook is setuptools' own

# Pinned: the compiled code is what this mypy (mypyc) emits, and the suite ran on it.
MYPYC_REQUIRES = ["mypy==2.4.1"]


def _compiling() -> bool:
    return os.environ.get("GATEWATCH_MYPYC", "") == "1"


@contextmanager
def _pure_setup() -> Iterator[None]:
    # setuptools runs setup.py to read its requirements, before they are installed: without
    # the switch, so that it neither imports mypyc (not there yet) nor compiles for nothing.
    switch = os.environ.pop("GATEWATCH_MYPYC", None)
    try:
        yield
    finally:
        if switch is not None:
            os.environ["GATEWATCH_MYPYC"] = switch


def _requires(
    hook: Callable[[dict[str, Any] | None], list[str]], config_settings: dict[str, Any] | None
) -> list[str]:
    compiling = _compiling()
    with _pure_setup():
        requires = hook(config_settings)
    return requires + MYPYC_REQUIRES if compiling else requires


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    return _requires(_setuptools.get_requires_for_build_wheel, config_settings)


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: dict[str, Any] | None = None
) -> str:
    # The metadata is the same for both builds: not worth a compilation.
    with _pure_setup():
        name: str = _setuptools.prepare_metadata_for_build_wheel(metadata_directory, config_settings)
    return name


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None) -> list[str]:
    return _requires(_setuptools.get_requires_for_build_editable, config_settings)


def build_wheel(
    wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
) -> str:
    # setuptools packs whatever build/lib* holds: an earlier build's extension modules (the
    # other build, or a module since taken off COMPILED_MODULES) would ship in this wheel, and a
    # compiled module without its code in the shared library fails at import.
    for stale in glob.glob(os.path.join("build", "lib*")) + glob.glob(os.path.join("build", "bdist*")):
        shutil.rmtree(stale, ignore_errors=True)
    name: str = _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    return name
