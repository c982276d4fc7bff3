"""Choosing histogram families and their buckets: validation, one choice per registry and per
process, nothing recorded or exported for a family left out, series per route as docs/metrics.md
says."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gatewatch import catalogue as c
from gatewatch._histogram import DEFAULT_CHOICE, HistogramChoice, histogram_choice
from gatewatch.export.prometheus.collector import PrometheusAggregator
from gatewatch.monitor import Monitor
from gatewatch.runtime import Runtime
from tests.support.feed import exported_families, feed, run_multiprocess
from tests.support.scrape import samples
from tests.support.traffic import ROOT

ROUTE = "/items/{id}"
LEAN = histogram_choice({"duration"})
# A lean choice with its own buckets, for both back ends.
CUSTOM = histogram_choice({"duration", "websocket_duration"}, {"duration": [0.1, 1, math.inf]})
HISTOGRAM_NAMES = {spec.name for spec in c.METRICS if spec.kind == "histogram"}


def test_default_is_every_family_with_the_catalogue_buckets() -> None:
    assert histogram_choice() == DEFAULT_CHOICE == HistogramChoice()
    assert DEFAULT_CHOICE.enabled == frozenset(c.HISTOGRAM_KEYS)
    assert all(DEFAULT_CHOICE.bounds(key) == c.metric(key).buckets for key in c.HISTOGRAM_KEYS)
    assert LEAN.bounds("cpu") is None


def test_overrides_are_normalised() -> None:
    assert CUSTOM.bounds("duration") == (0.1, 1.0)  # the trailing +Inf is implied
    # An override equal to the default, or for a family left out, changes nothing.
    same = histogram_choice(None, {"duration": list(c.metric("duration").buckets)})
    assert same == DEFAULT_CHOICE and hash(same) == hash(DEFAULT_CHOICE)
    assert histogram_choice({"duration"}, {"cpu": [1.0]}) == LEAN
    assert histogram_choice(["duration", "duration"]) == LEAN
    assert histogram_choice(()).enabled == frozenset()


@pytest.mark.parametrize(
    ("histograms", "buckets", "error", "message"),
    [
        ({"latency"}, None, ValueError, "histograms: unknown family 'latency'; known: duration, "),
        ({"in_flight"}, None, ValueError, "unknown family 'in_flight'"),  # a gauge, not a histogram
        ("duration", None, TypeError, "histograms must be a collection of family names"),
        (None, {"latency": [1.0]}, ValueError, "buckets: unknown family 'latency'"),
        (None, {"duration": [1.0, 0.5]}, ValueError, r"buckets\['duration'\] must be strictly increasing"),
        (None, {"duration": [0.5, 0.5]}, ValueError, "strictly increasing"),
        (None, {"duration": [-1.0, 1.0]}, ValueError, "non-negative"),
        (None, {"duration": []}, ValueError, "strictly increasing"),
        (None, {"duration": [math.inf]}, ValueError, "strictly increasing"),
        (None, {"duration": [math.nan]}, ValueError, "strictly increasing"),
        (None, {"duration": "0.1,1"}, TypeError, r"buckets\['duration'\]"),
        (None, {"duration": [True, 2.0]}, TypeError, r"buckets\['duration'\]"),
        (None, [("duration", [1.0])], TypeError, "buckets must map family names"),
    ],
)
def test_bad_choices_name_the_option(
    histograms: object, buckets: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        histogram_choice(histograms, buckets)  # type: ignore[arg-type]


def test_one_choice_per_registry(registry: CollectorRegistry, runtime: Runtime) -> None:
    monitor = runtime.registry_monitor(registry, histograms=LEAN)
    assert runtime.registry_monitor(registry, histograms=histogram_choice(["duration"])) is monitor
    with pytest.raises(ValueError, match=r"histograms=\{'duration', 'cpu'\} conflicts .*\(histograms="):
        runtime.registry_monitor(registry, histograms=histogram_choice({"duration", "cpu"}))
    with pytest.raises(ValueError, match="the default histograms conflicts"):
        runtime.registry_monitor(registry)
    with pytest.raises(TypeError, match="must be a HistogramChoice"):
        runtime.registry_monitor(CollectorRegistry(), histograms={"duration"})  # type: ignore[arg-type]


def _bounds(text: str, name: str) -> set[str]:
    return {dict(labels)["le"] for sample, labels in samples(text) if sample == name + "_bucket"}


def _check_custom(text: str) -> None:
    histograms = exported_families(text) & HISTOGRAM_NAMES
    assert histograms == {c.metric("duration").name, c.metric("websocket_duration").name}
    assert _bounds(text, c.metric("duration").name) == {"0.1", "1.0", "+Inf"}
    # Everything else is still there.
    assert exported_families(text) - HISTOGRAM_NAMES == {s.name for s in c.METRICS} - HISTOGRAM_NAMES


def test_single_process_exports_only_the_chosen_histograms(
    registry: CollectorRegistry, runtime: Runtime
) -> None:
    feed(runtime.registry_monitor(registry, histograms=CUSTOM))
    _check_custom(generate_latest(registry).decode())
    names = {metric.name for metric in PrometheusAggregator(Monitor(), CUSTOM).describe()}
    assert names == {s.family for s in c.METRICS if s.kind != "histogram" or s.key in CUSTOM.enabled}


def custom_exposition() -> str:
    from prometheus_client import multiprocess

    from gatewatch.export.prometheus.multiprocess import MultiprocessSink

    sink = MultiprocessSink(CUSTOM)
    sink.note_server("wsgi", "gunicorn")  # the info gauge lives in the files, not in the monitor
    feed(Monitor(sinks=(sink,)))
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry).decode()


def test_multiprocess_exports_only_the_chosen_histograms(tmp_path: Path) -> None:
    _check_custom(run_multiprocess(tmp_path, f"{__name__}:custom_exposition"))


def process_monitor_conflict() -> str:
    runtime = Runtime()
    monitor, sink = runtime.process_monitor(histograms=LEAN)
    assert runtime.process_monitor(histograms=histogram_choice(["duration"])) == (monitor, sink)
    try:
        runtime.process_monitor()
    except ValueError as exc:
        return str(exc)
    return "no error"


def test_one_choice_per_process(tmp_path: Path) -> None:
    message = run_multiprocess(tmp_path, f"{__name__}:process_monitor_conflict")
    assert message == (
        "the default histograms conflicts with this process's gatewatch monitor (histograms={'duration'})"
    )


def series_per_route(
    choice: HistogramChoice, *, statuses: tuple[int, ...] = (200,), offload: bool = False, view: bool = False
) -> int:
    """Series carrying ``ROUTE`` in a scrape after one GET per status."""
    registry = CollectorRegistry()
    monitor = Runtime().registry_monitor(registry, histograms=choice)
    for status in statuses:
        record = monitor.start("asgi", "GET", "/items/1")
        record.route, record.status, record.cpu = ROUTE, status, 0.001
        record.first_byte = record.start + 0.001
        record.response_bytes = 20
        if offload:
            record.offload, record.thread_hops = 0.001, 2
        if view:
            record.view, record.view_kind = "app.views.item", "sync"
        record.response_ended()
        monitor.leave_in_flight(record)
        monitor.finish(record, time.perf_counter())
    return sum(("route", ROUTE) in labels for _, labels in samples(generate_latest(registry).decode()))


def test_series_per_route_are_what_the_docs_say() -> None:
    full = histogram_choice(series="full")
    default, everything = series_per_route(DEFAULT_CHOICE), series_per_route(full)
    per_status = series_per_route(DEFAULT_CHOICE, statuses=(200, 404)) - default
    assert series_per_route(full, statuses=(200, 404)) - everything == per_status
    assert series_per_route(LEAN) == default
    django = series_per_route(DEFAULT_CHOICE, offload=True, view=True) - default
    full_django = series_per_route(full, offload=True, view=True) - everything
    assert (default, everything, per_status, django, full_django) == (23, 97, 18, 3, 43)
    # The bound: a route at one status, under Django too.
    assert default + django <= 30
    page = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    start = page.index("## Histograms and series per route\n")
    # Up to the next section, or the reference the site renders after it.
    end = min(index for index in (page.find("\n## ", start + 1), page.find("\n<!--", start)) if index > 0)
    section = " ".join(page[start:end].split())
    for phrase in (
        f"exports **{default}** series by default",
        f"{default + django} under Django",
        f"further status adds {per_status}",
        f'`series="full"`, **{everything}**',
        f"{full_django} more under Django",
    ):
        assert phrase in section, f"docs/metrics.md's series per route should say {phrase!r}"
    rows = (
        f'| `series="lean"` (default) | {default} | {default + django} | +{per_status} |',
        f'| `series="full"` | {everything} | {everything + full_django} | +{per_status} |',
    )
    for text in (page, (ROOT / "README.md").read_text(encoding="utf-8")):
        for row in rows:
            assert row in text, f"the series table should have the row {row!r}"
