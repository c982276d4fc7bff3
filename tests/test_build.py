"""The two builds of one source: the request path compiled by mypyc, or pure Python.

``make test`` runs the suite on the compiled build and ``make test-pure`` on the pure one; each
names the build it means in ``GATEWATCH_EXPECT_BUILD``, so neither can silently run the other.
The checks below the first two hold on both builds: they guard what mypyc compiles differently.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from types import ModuleType

import pytest

from gatewatch._build import build_name, compiled
from gatewatch.cli import build_parser
from tests.support.checkout import ROOT

EXPECT = "GATEWATCH_EXPECT_BUILD"


def _compiled_modules() -> list[str]:
    """setup.py's COMPILED_MODULES as dotted module names (read, not run: setup.py builds)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "COMPILED_MODULES" for target in node.targets
        ):
            paths: tuple[str, ...] = ast.literal_eval(node.value)
            return [path.removesuffix(".py").replace("/", ".") for path in paths]
    raise AssertionError("setup.py has no COMPILED_MODULES")


COMPILED_MODULES = _compiled_modules()


def _backend() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gatewatch_build", ROOT / "_build_backend/gatewatch_build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_build_that_runs_is_the_one_expected() -> None:
    expected = os.environ.get(EXPECT)
    if expected is None:
        pytest.skip(f"{EXPECT} is not set (make test and make test-pure set it)")
    assert expected in ("compiled", "pure"), expected
    assert compiled() == (expected == "compiled"), f"{EXPECT}={expected}, but {build_name()} runs"


def test_every_listed_module_runs_as_built() -> None:
    """Compiled: each module of COMPILED_MODULES is an extension module (one that failed to
    build or to load would run as Python, silently); pure: none is."""
    assert COMPILED_MODULES and all(name.startswith("gatewatch.") for name in COMPILED_MODULES)
    for name in COMPILED_MODULES:
        path = importlib.import_module(name).__file__
        assert path is not None
        assert path.endswith(tuple(EXTENSION_SUFFIXES)) == compiled(), (name, path)


def test_version_names_the_build(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])
    version = capsys.readouterr().out
    assert version.startswith("gatewatch ")
    assert ("compiled (mypyc)" in version) == compiled(), version
    assert ("pure Python" in version) != compiled(), version


def test_no_build_imports_mypy_at_run_time() -> None:
    """mypyc's class hints come from gatewatch/_compile_hints.py, whose run-time decorator does
    nothing: an installed gatewatch, either build, imports neither mypy nor mypy_extensions."""
    script = (
        "import sys\n"
        "sys.modules['mypy_extensions'] = sys.modules['mypy'] = None\n"
        f"import importlib\nfor name in {COMPILED_MODULES!r}: importlib.import_module(name)\n"
        "import gatewatch, gatewatch.cli\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


# GCC's own keywords that start with two underscores. mypyc names an attribute's C field after
# it with a "_" in front (a ``_thread`` attribute is the field ``__thread``, a storage class to
# GCC): any such attribute makes the compiled build fail to compile.
_GCC_KEYWORDS = frozenset(
    f"__{word}{tail}"
    for word in ("asm", "inline", "restrict", "volatile", "const", "signed", "attribute", "typeof")
    for tail in ("", "__")
) | {"__thread", "__extension__", "__label__", "__real__", "__imag__", "__complex__", "__int128"}


def test_no_attribute_of_a_compiled_class_is_a_c_keyword() -> None:
    clashes: list[str] = []
    for name in COMPILED_MODULES:
        source = ROOT / (name.replace(".", "/") + ".py")
        for node in ast.walk(ast.parse(source.read_text())):
            attributes: list[str] = []
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
            ):
                attributes.append(node.attr)
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
            ):
                attributes.extend(ast.literal_eval(node.value))
            clashes.extend(f"{source.name}: {attr}" for attr in attributes if "_" + attr in _GCC_KEYWORDS)
    assert not clashes


def test_the_build_asks_for_mypy_only_when_it_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-tree backend (_build_backend/) adds the pinned mypy to an isolated build's
    requirements when GATEWATCH_MYPYC=1, and nothing to the pure build's."""
    backend = _backend()
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GATEWATCH_MYPYC", raising=False)
    pure = backend.get_requires_for_build_wheel()
    assert not any(requirement.startswith("mypy") for requirement in pure), pure
    monkeypatch.setenv("GATEWATCH_MYPYC", "1")
    assert backend.get_requires_for_build_wheel() == [*pure, *backend.MYPYC_REQUIRES]
    assert backend.get_requires_for_build_editable()[-1:] == backend.MYPYC_REQUIRES


def test_the_pinned_mypy_is_the_one_the_suite_runs_on() -> None:
    """make test compiles in place with this environment's mypy; the wheels with the pinned one.
    They are one version, or the suite would vouch for code the wheel does not carry."""
    from importlib.metadata import version

    pinned = _backend().MYPYC_REQUIRES
    assert pinned == [f"mypy=={version('mypy')}"]
