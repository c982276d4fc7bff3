from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gatewatch.runtime import Runtime
from tests.support import extras
from tests.support.installed import build_wheel, install_venv

# Every process writes its live snapshot into the user's runtime directory: the tests, and the
# servers they start (which inherit the environment), use one of their own, never the user's.
_RUNTIME_DIR = tempfile.mkdtemp(prefix="gatewatch-tests-runtime-")
os.environ["XDG_RUNTIME_DIR"] = _RUNTIME_DIR
atexit.register(shutil.rmtree, _RUNTIME_DIR, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    # pytest-timeout is the test extra's: without it (make test-minimal) its mark is only a
    # label, and must be known as one for the modules that use it to import.
    if not config.pluginmanager.hasplugin("timeout"):
        config.addinivalue_line("markers", "timeout(seconds): pytest-timeout's limit (not installed here)")


@pytest.hookimpl(tryfirst=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport | None:
    """Without an extra (``make test-minimal``), the test modules that need it are skipped."""
    if extras.every_extra() or not isinstance(collector, pytest.Module):
        return None
    reason = extras.module_missing_extra(collector)
    return None if reason is None else extras.skip_report(collector, reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Likewise a test (or its fixture) that imports an extra only when it runs."""
    report = yield
    if report.failed and not extras.every_extra() and call.excinfo is not None:
        reason = extras.missing_extra(call.excinfo.value)
        if reason is not None:
            extras.skip_test(report, reason)
    return report


_WRONGLY_SKIPPED: list[str] = []


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if extras.wrongly_skipped(report):
        _WRONGLY_SKIPPED.append(report.nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if extras.wrongly_skipped(report):
        _WRONGLY_SKIPPED.append(report.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """With every extra (``make test``) no test may skip because an import failed; without
    them (``make test-minimal``), none of the modules that run on the runtime dependencies."""
    if _WRONGLY_SKIPPED and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _WRONGLY_SKIPPED:
        terminalreporter.section("skipped for a missing import, which this run must not be", red=True)
        for nodeid in _WRONGLY_SKIPPED:
            terminalreporter.line(nodeid)


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh registry per test: no series leak from one test into another."""
    return CollectorRegistry()


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    """A runtime of the test's own (its monitors, sinks, snapshot files), closed after it."""
    made = Runtime()
    yield made
    made.close()


@pytest.fixture
def no_snapshot_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """No live-view snapshot files unless a test sets their directory itself."""
    for name in ("GATEWATCH_LIVE_DIR", "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Tests marked ``anyio`` run on asyncio and on trio."""
    backend: str = request.param
    return backend


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gatewatch's wheel, built from the checkout once per run (shared by pytest-xdist's workers)."""
    return _once_per_run(
        tmp_path_factory,
        "wheel",
        lambda: build_wheel(tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")),
    )


@pytest.fixture(scope="session")
def installed_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel and the extras the README installs (one per
    run, shared by pytest-xdist's workers)."""
    return _once_per_run(
        tmp_path_factory,
        "installed_venv",
        lambda: install_venv(tmp_path_factory.mktemp("installed") / "venv", wheel),
    )


def _once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[], Path]) -> Path:
    """``make()`` once per test run: under pytest-xdist the first worker to ask makes it (the
    others wait on a lock in the run's shared temporary directory) and all read its path.
    tests/test_packaging.py and tests/test_readme_commands.py, on two workers, each built the
    wheel and installed the environment, minutes of CPU on a 2-core machine."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return make()
    shared = tmp_path_factory.getbasetemp().parent
    with open(shared / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the worker dies
        made = shared / f"{name}.path"
        if not made.exists():
            made.write_text(str(make()))
        return Path(made.read_text())
