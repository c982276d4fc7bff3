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
from typing import Any

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
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        # The isolated build's setuptools (pyproject's [build-system]), not an older one here.
        pytest.skip(f"setuptools {setuptools.__version__} here; the build requires 77 or later")
    backend = _backend()
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GATEWATCH_MYPYC", raising=False)
    pure = backend.get_requires_for_build_wheel()
    assert not any(requirement.startswith("mypy") for requirement in pure), pure
    monkeypatch.setenv("GATEWATCH_MYPYC", "1")
    # Asked before mypy is installed: setup.py then runs as the pure build would.
    assert backend.get_requires_for_build_wheel() == [*pure, *backend.MYPYC_REQUIRES]
    assert backend.get_requires_for_build_editable()[-1:] == backend.MYPYC_REQUIRES
    assert os.environ["GATEWATCH_MYPYC"] == "1"


def test_the_pinned_mypy_is_the_one_the_suite_runs_on() -> None:
    """make test compiles in place with this environment's mypy; the wheels with the pinned one.
    They are one version, or the suite would vouch for code the wheel does not carry."""
    from importlib.metadata import version

    pytest.importorskip("mypy")
    pinned = _backend().MYPYC_REQUIRES
    assert pinned == [f"mypy=={version('mypy')}"]


def test_entry_points_keep_the_fields_of_their_base() -> None:
    """GatewatchASGI and GatewatchWSGI have ``__call__``, and a compiled class with one keeps a
    call slot ahead of its fields: their base (Lifecycle) declares one too, or its methods would
    write its fields at other offsets (the compiled build crashed at construction). In a
    subprocess, so that a crash is this test failing, not a test worker lost."""
    script = (
        "from prometheus_client import CollectorRegistry\n"
        "from gatewatch import GatewatchASGI, GatewatchWSGI\n"
        "async def asgi(scope, receive, send): pass\n"
        "def wsgi(environ, start_response): return []\n"
        "from gatewatch.monitor import Monitor\n"
        "from gatewatch.runtime import Runtime\n"
        "asgi_entry = GatewatchASGI(asgi, registry=CollectorRegistry(), cpu_time=True)\n"
        "for entry in (asgi_entry, GatewatchWSGI(wsgi, registry=CollectorRegistry(), cpu_time=True)):\n"
        "    assert entry._cpu_time is True and entry.options.cpu_time is True, entry\n"
        "    assert isinstance(entry.monitor, Monitor) and isinstance(entry.runtime, Runtime)\n"
        "    assert 0 < entry._cpu_countdown and entry._watched_loop is False\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout) == (0, "ok\n"), run.stderr


def test_what_others_subclass_or_weakly_reference_allows_it() -> None:
    """Sinks are users', OpenTelemetry's and tests' subclasses; the runtime and the live view
    hold monitors, aggregators and live states by weak reference; Django's middleware is a
    Lifecycle. mypyc's native classes allow neither unless marked (gatewatch/_compile_hints.py),
    and a Python class in a compiled module is checked by exact type: Sink is in a module left
    as Python (gatewatch/_sink.py)."""
    import weakref

    from gatewatch._lifecycle import Lifecycle
    from gatewatch.export.live.state import LiveState
    from gatewatch.export.prometheus.collector import PrometheusAggregator
    from gatewatch.monitor import Monitor, Sink
    from gatewatch.record import RequestRecord

    seen: list[str] = []

    class Counting(Sink):
        def request_finished(self, record: RequestRecord) -> None:
            seen.append(record.path)

    class Entry(Lifecycle):
        pass

    monitor = Monitor(sinks=[Counting()])
    monitor.finish(monitor.start("asgi", "GET", "/here"))
    assert seen == ["/here"]
    assert isinstance(Entry(), Lifecycle)
    for target in (monitor, PrometheusAggregator(monitor), LiveState(monitor), Counting()):
        assert weakref.ref(target)() is target


def test_a_threshold_set_on_a_timer_class_is_the_one_it_uses() -> None:
    """timer_class() makes a subclass at run time with its own block threshold; a compiled
    class reads the subclass' value only from a class variable (an annotated default would
    be an instance field, and the subclass' value never seen)."""
    from gatewatch.asgi._step_timer import StepTimer, timer_class
    from gatewatch.record import RequestRecord

    async def one_step() -> str:
        return "done"

    for cpu_time in (False, True):
        timer = timer_class(cpu_time=cpu_time, block_threshold=0.0)
        assert issubclass(timer, StepTimer) and timer is not StepTimer
        record = RequestRecord("asgi", "GET", "/", 0.0)
        stepping = timer(one_step(), record)
        with pytest.raises(StopIteration) as ended:
            next(stepping)
        assert ended.value.value == "done"
        assert record.loop_blocks is not None and len(record.loop_blocks) == 1, record.loop_blocks
        assert (record.cpu is not None) == cpu_time


def test_a_wsgi_middleware_hears_the_worker_capacity() -> None:
    """The runtime tells its WSGI middlewares the worker capacity through a bound method it
    held by weak reference; a compiled middleware's method takes none, so it is held."""
    from prometheus_client import CollectorRegistry

    from gatewatch import GatewatchWSGI
    from gatewatch.runtime import Runtime

    def app(environ: Any, start_response: Any) -> list[bytes]:
        return []

    runtime = Runtime()
    try:
        wrapped = GatewatchWSGI(app, runtime=runtime, registry=CollectorRegistry())
        runtime.worker_capacity.set(3)
        assert wrapped.monitor.worker_threads == 3
    finally:
        runtime.close()
