"""The catalogue is the one declaration of every metric: no other code spells a metric's name,
every family a scrape exports (either back end) is in it (the docs site's reference is
rendered from it: tests/test_docs_site.py)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gatewatch import catalogue as c
from gatewatch.export.prometheus.collector import PrometheusAggregator
from gatewatch.monitor import Monitor
from gatewatch.runtime import Runtime
from tests.support.feed import exported_families, feed, run_multiprocess
from tests.support.traffic import ROOT

_SERIES_SUFFIX = r"(?:_total|_info|_bucket|_sum|_count|_created)?"

# Prose outside the catalogue that cites a metric in a message to the user: (file, key).
# django/checks.py's hints name the hop counter; its owner may derive them from
# c.metric("thread_hops").name, after which this entry is simply unused.
_CITED_IN_MESSAGES: set[tuple[str, str]] = set()


def _spelling(spec: c.MetricSpec) -> re.Pattern[str]:
    # The family name finds a counter written without _total and every series of a histogram;
    # the info family alone ("gatewatch") is the package's name, so it needs its suffix.
    stem = spec.family if "_" in spec.family else spec.name
    return re.compile(rf"\b{re.escape(stem)}{_SERIES_SUFFIX}\b")


def _code_strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every string constant but docstrings (comments are not in the tree): the places a name
    would be spelled for a program to use, f-string parts included."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_metric_name_is_spelled_outside_the_catalogue() -> None:
    found = []
    for path in sorted((ROOT / "gatewatch").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        # The catalogue, and the parts it is split into (gatewatch/_catalogue_*.py).
        if relative == "gatewatch/catalogue.py" or path.name.startswith("_catalogue_"):
            continue
        for line, text in _code_strings(ast.parse(path.read_text(encoding="utf-8"))):
            for spec in c.METRICS:
                if (relative, spec.key) not in _CITED_IN_MESSAGES and _spelling(spec).search(text):
                    found.append(f"{relative}:{line} spells {spec.name}; use c.metric({spec.key!r})")
    assert not found, "\n".join(found)


def test_the_spelling_check_finds_what_it_must() -> None:
    # The check above passes vacuously if the patterns are wrong.
    code = 'X = "gatewatch_http_request_body_bytes" + "_total"\nY = f"{a}gatewatch_info"\n'
    hits = {
        spec.key
        for _, text in _code_strings(ast.parse(code))
        for spec in c.METRICS
        if _spelling(spec).search(text)
    }
    assert hits == {"request_bytes", "info"}
    prose = '"""gatewatch_http_request_duration_seconds in a docstring."""\n# gatewatch_info\n'
    assert not list(_code_strings(ast.parse(prose)))
    # A family that prefixes another's name is not a spelling of it.
    assert not _spelling(c.metric("websocket_sessions")).search("gatewatch_websocket_sessions_active")


def test_single_process_scrape_is_the_catalogue(registry: CollectorRegistry, runtime: Runtime) -> None:
    feed(runtime.registry_monitor(registry))
    assert exported_families(generate_latest(registry).decode()) == {spec.name for spec in c.METRICS}
    # describe() too: it is what a registry checks name clashes against.
    described = {metric.name for metric in PrometheusAggregator(Monitor()).describe()}
    assert described == {spec.family for spec in c.METRICS}


def default_exposition() -> str:
    from tests.support.feed import multiprocess_exposition

    return multiprocess_exposition()


def test_multiprocess_scrape_is_the_catalogue(tmp_path: Path) -> None:
    text = run_multiprocess(tmp_path, "tests.test_catalogue:default_exposition")
    assert exported_families(text) == {spec.name for spec in c.METRICS}


def test_a_malformed_spec_fails_at_import() -> None:
    with pytest.raises(ValueError, match=r"'x'.*end in _total"):
        c.MetricSpec("x", "gatewatch_x", "counter", "help", otel_name="gatewatch.x", otel_unit="1")
    with pytest.raises(ValueError, match="histograms \\(only\\) have buckets"):
        c.MetricSpec(
            "x",
            "gatewatch_x_seconds",
            "histogram",
            "help",
            unit="seconds",
            otel_name="gatewatch.x",
            otel_unit="s",
        )
    with pytest.raises(ValueError, match="multiprocess mode"):
        c.MetricSpec("x", "gatewatch_x", "gauge", "help", otel_name="gatewatch.x", otel_unit="1")


def test_lookups() -> None:
    assert c.metric("duration").name == "gatewatch_http_request_duration_seconds"
    assert c.by_name("gatewatch_http_request_body_bytes_total").family == "gatewatch_http_request_body_bytes"
    assert c.metric("info").family == "gatewatch"
    with pytest.raises(KeyError, match="known: duration"):
        c.metric("latency")
    assert c.HISTOGRAM_KEYS == (
        "duration",
        "after_response",
        "blocking",
        "cpu",
        "ttfb",
        "concurrency",
        "offload",
        "offload_queue",
        "queue",
        "loop_lag",
        "websocket_duration",
        "websocket_blocking",
    )
