"""Which test modules need an extra, and the rule that no test skips for one in the full run.

``make test-minimal`` runs the suite in a virtual environment with gatewatch's runtime
dependencies only (prometheus-client, asgiref) and pytest. A test module whose import fails on
a module of an extra (or of the ``test`` extra's tools) is reported as skipped there, naming the
module; any other import error still fails, so gatewatch's own imports of something that is not
a runtime dependency cannot hide. ``make test`` sets ``GATEWATCH_TESTS_EVERY_EXTRA``: there a
test module that cannot import, or a test skipped because an import failed, fails the run.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

EVERY_EXTRA = "GATEWATCH_TESTS_EVERY_EXTRA"
RUNTIME_ONLY = "GATEWATCH_TESTS_RUNTIME_ONLY"
# What the run without extras exists to show: plain ASGI and WSGI callables wrapped (called
# directly and through wsgiref's validator), /metrics rendered, the options read. These modules
# must import there; if one needed an extra (or gatewatch imported one), the run would prove
# nothing, so their skip fails it.
RUNTIME_ONLY_MODULES = (
    "tests/asgi/test_asgi.py",
    "tests/wsgi/test_wsgi.py",
    "tests/test_monitor.py",
    "tests/test_options.py",
    "tests/test_catalogue.py",
)

# Top-level import names -> the extra of pyproject.toml that brings them (directly or as the
# dependency of one that does).
EXTRA_MODULES: dict[str, str] = {
    **dict.fromkeys(("django",), "django"),
    **dict.fromkeys(("channels",), "channels"),
    **dict.fromkeys(("opentelemetry",), "otel"),
    **dict.fromkeys(("mkdocs", "material"), "docs"),
    **dict.fromkeys(("textual", "rich"), "dashboard"),
    **dict.fromkeys(
        ("uvicorn", "gunicorn", "starlette", "flask", "werkzeug", "httpx", "anyio", "uvloop", "httptools"),
        "demo",
    ),
    **dict.fromkeys(
        (
            "pytest_django",
            "xdist",
            "pytest_timeout",
            "pytest_benchmark",
            "pytest_cov",
            "coverage",
            "daphne",
            "waitress",
            "hypercorn",
            "granian",
            "websockets",
            "trio",
            "pytest_textual_snapshot",
            "syrupy",
            "fastapi",
            "yaml",
        ),
        "test",
    ),
    **dict.fromkeys(("starlette_exporter", "django_prometheus"), "bench"),
}
# Test files that need an extra only in the processes they start (servers, the demo, a built
# wheel's environment), so that their own import succeeds without it: path prefix -> the
# modules whose absence skips them.
STARTED_WITH_EXTRAS: dict[str, tuple[str, ...]] = {
    "tests/demo/": ("uvicorn", "gunicorn", "starlette", "flask", "httpx"),
    "tests/export/prometheus/test_dead_workers.py": ("uvicorn", "granian", "hypercorn"),
    "tests/export/prometheus/test_prometheus_server.py": ("uvicorn", "starlette"),
    # The built wheel's environment installs the README's extras; its grafana files are a
    # package of the installed gatewatch only (the checkout's gatewatch/ has no grafana/).
    "tests/test_packaging.py": ("uvicorn",),
    # The quick starts run under uvicorn and mypy.
    "tests/test_readme.py": ("uvicorn", "mypy"),
    # The site is built by mkdocs in a process of its own.
    "tests/test_docs_site.py": ("mkdocs",),
}
# pytest.importorskip's reason when the import fails.
_IMPORTORSKIP = "could not import "


def _set(variable: str) -> bool:
    return os.environ.get(variable, "") not in ("", "0")


def every_extra() -> bool:
    """Whether this run must have every extra (``make test``), rather than what is installed."""
    return _set(EVERY_EXTRA)


def wrongly_skipped(report: pytest.CollectReport | pytest.TestReport) -> bool:
    """Whether ``report`` is a skip for a missing import that this run must not have."""
    if not _skipped_for_an_import(report):
        return False
    return every_extra() or (_set(RUNTIME_ONLY) and report.nodeid in RUNTIME_ONLY_MODULES)


def missing_extra(error: BaseException | None) -> str | None:
    """Why something failed, if only because a module of an extra is not installed (raised
    as it is, or as the cause of gatewatch's own ImportError naming the extra to install)."""
    while error is not None:
        if isinstance(error, ModuleNotFoundError) and error.name is not None:
            extra = EXTRA_MODULES.get(error.name.partition(".")[0])
            if extra is not None:
                return f"needs the {extra} extra ({error.name} is not installed)"
        error = error.__cause__ if isinstance(error, ImportError) else None
    return None


def module_missing_extra(collector: pytest.Module) -> str | None:
    """Why ``collector``'s module cannot be imported, or run, if only because an extra is missing."""
    path = collector.nodeid
    for prefix, modules in STARTED_WITH_EXTRAS.items():
        if path.startswith(prefix):
            missing = [name for name in modules if importlib.util.find_spec(name) is None]
            if missing:
                return f"needs the extras of the processes it starts ({', '.join(missing)} not installed)"
    try:
        collector.obj  # noqa: B018 - imports the module, as collecting it would
    except collector.CollectError as error:
        return missing_extra(error.__cause__)
    except BaseException:  # noqa: BLE001 - pytest's own collection reports it again, as usual
        return None
    return None


def skip_report(collector: pytest.Module, reason: str) -> pytest.CollectReport:
    location = (str(Path(collector.path)), 0, f"Skipped: {reason}")
    return pytest.CollectReport(collector.nodeid, "skipped", location, [])


def skip_test(report: pytest.TestReport, reason: str) -> None:
    """Turn the failed ``report`` of a test that imports an extra in its body into a skip."""
    report.outcome = "skipped"
    path, lineno, _ = report.location
    report.longrepr = (path, lineno or 0, f"Skipped: {reason}")


def _skipped_for_an_import(report: pytest.CollectReport | pytest.TestReport) -> bool:
    """Whether ``report`` is a skip because something could not be imported."""
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return False
    reason = str(report.longrepr[2])
    return reason.startswith("Skipped: ") and (
        reason.removeprefix("Skipped: ").startswith((_IMPORTORSKIP, "needs the "))
    )
