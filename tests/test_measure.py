"""A new metric is one spec and one measurement: every catalogue spec is measured by
gatewatch._measure, every exporter exports every spec it is fed, and no exporter looks a metric
up by itself (so none can work out a metric of its own from a record)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from gatewatch import _measure as m
from gatewatch import catalogue as c
from gatewatch._histogram import DEFAULT_CHOICE
from gatewatch.monitor import Monitor, Sink
from gatewatch.record import CLIENT, RequestRecord, WebSocketRecord
from tests.support.feed import feed
from tests.support.traffic import ROOT

# Every module that turns measurements into an export. None may look a metric up by itself.
ADAPTERS = (
    "gatewatch/export/prometheus/collector.py",
    "gatewatch/export/prometheus/multiprocess.py",
    "gatewatch/export/otel/_metrics.py",
    "gatewatch/export/otel/sink.py",
)
# What looking a metric up takes: the catalogue's lookups, or a slot by key.
_LOOKUPS = {"metric", "by_name", "BY_KEY", "BY_NAME", "SLOT"}
# Spec keys that are also words an adapter uses for something else (a kind is "info" too).
_ORDINARY_WORDS = {"counter", "gauge", "histogram", "info"}


class Measured(Sink):
    """Every slot the measurement functions produce for what a monitor hands its sinks."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.slots: set[int] = set()

    def _note(self, measured: list[m.Extra]) -> None:
        self.slots.update(slot for slot, _, _ in measured)

    def request_started(self, record: RequestRecord) -> None:
        self._note(m.arrival(record))

    def request_finished(self, record: RequestRecord) -> None:
        self._note(m.request_extras(m.measure_request(record, self.monitor.worker_threads)))

    def session_accepted(self, record: WebSocketRecord) -> None:
        self._note(m.session_open(record))

    def session_finished(self, record: WebSocketRecord) -> None:
        self._note(m.measure_session(record))

    def loop_lag(self, seconds: float) -> None:
        self._note(m.measure_lag(seconds))

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None:
        self._note(m.measure_block(route, duration))

    def worker_threads_known(self, threads: int) -> None:
        self._note(m.worker_threads_noted(threads))

    def note_server(self, interface: str, server: str) -> None:
        self._note(m.server_noted(interface, server))

    def internal_error(self) -> None:
        self._note(m.internal_error())


def test_every_spec_is_measured() -> None:
    monitor = Monitor()
    measured = Measured(monitor)
    monitor.add_sink(measured)
    # One of everything, with a WSGI request that took the last of its two worker threads.
    feed(monitor)
    saturating = monitor.start("wsgi", "GET", "/")
    saturating.concurrency = 1
    monitor.finish(saturating)
    from_records = set(measured.slots)
    state = {slot for slot, _, _ in m.measure_state(monitor)}
    assert {c.METRICS[s].key for s in from_records | state} == set(c.BY_KEY)
    # The monitor's levels, read when exported, match what its events change.
    events = {slot for slot in from_records if c.METRICS[slot].kind == "gauge"}
    assert {c.METRICS[s].key for s in events} == {
        c.METRICS[s].key for s in state if c.METRICS[s].kind == "gauge"
    }


def test_measurements_name_their_labels_in_catalogue_order() -> None:
    monitor = Monitor()
    monitor.note_worker_threads(1)
    record = monitor.start("wsgi", "GET", "/")
    record.route, record.status, record.offload, record.queue = "/r", 200, 0.1, 0.2
    record.exception = ValueError()
    monitor.finish(record)
    for slot, labels, _ in m.request_extras(m.measure_request(record, monitor.worker_threads)):
        assert len(labels) == len(c.METRICS[slot].labels), c.METRICS[slot].key
    key, _, _ = m.measure_request(record, monitor.worker_threads)
    assert dict(zip(m.KEY_LABELS, key, strict=True)) == {
        "interface": "wsgi",
        "method": "GET",
        "route": "/r",
        "status": "200",
    }


def test_saturation_is_the_last_free_worker_thread() -> None:
    monitor = Monitor()
    saturated = m.SLOT["saturated"]
    for interface, concurrency, threads, expected in (
        ("wsgi", 0, None, False),
        ("wsgi", 0, 2, False),
        ("wsgi", 1, 2, True),
        ("wsgi", 5, 2, True),
        ("asgi", 9, 1, False),
    ):
        record = monitor.start(interface, "GET", "/")
        record.concurrency = concurrency
        monitor.finish(record)
        slots = {slot for slot, _, _ in m.request_extras(m.measure_request(record, threads))}
        assert (saturated in slots) is expected, (interface, concurrency, threads)


def test_close_codes_have_one_cap_across_routes() -> None:
    monitor = Monitor()
    labels = []
    for n in range(m.MAX_CLOSE_CODES + 5):
        session = monitor.start_session("/ws")
        session.route = f"/ws/{n % 3}"
        session.accepted_at = session.start
        monitor.session_accepted(session)
        session.close_by(CLIENT, 3000 + n)
        monitor.finish_session(session)
        labels.append(session.close_label)
    assert labels[: m.MAX_CLOSE_CODES] == [str(3000 + n) for n in range(m.MAX_CLOSE_CODES)]
    assert set(labels[m.MAX_CLOSE_CODES :]) == {m.CLOSE_CODE_OVERFLOW}
    assert [m.close_code_label(code) for code in (None, 999, 1000, 4999, 5000)] == [
        "none",
        "other",
        "1000",
        "4999",
        "other",
    ]


def test_opentelemetry_exports_every_spec() -> None:
    from gatewatch.export.otel.sink import OtelSink

    reader = InMemoryMetricReader()
    monitor = Monitor()
    monitor.add_sink(
        OtelSink(monitor, meter_provider=MeterProvider(metric_readers=[reader]), histograms=DEFAULT_CHOICE)
    )
    feed(monitor)
    saturating = monitor.start("wsgi", "GET", "/")
    saturating.concurrency = 1
    monitor.finish(saturating)
    data = reader.get_metrics_data()
    assert data is not None
    names = {
        metric.name
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if any(True for _ in metric.data.data_points)
    }
    assert {spec.otel_name for spec in c.METRICS} <= names


def _lookups(source: str) -> list[str]:
    """Where ``source`` looks up one metric: a catalogue lookup or a slot by key (``c.metric``,
    ``BY_KEY``, ``m.SLOT``, imported or read as attributes), or a spec's key compared with or
    used as an index (``spec.key == "cpu"``, ``families["cpu"]``)."""
    keys = set(c.BY_KEY) - _ORDINARY_WORDS
    found = []

    def spelled(node: ast.AST) -> bool:
        return isinstance(node, ast.Constant) and node.value in keys

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in _LOOKUPS:
            found.append(f"line {node.lineno}: {node.attr}")
        elif isinstance(node, ast.ImportFrom):
            found += [f"line {node.lineno}: {a.name}" for a in node.names if a.name in _LOOKUPS]
        elif isinstance(node, ast.Subscript) and spelled(node.slice):
            found.append(f"line {node.lineno}: {node.slice.value!r}")  # type: ignore[attr-defined]
        elif isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                parts = side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
                found += [f"line {node.lineno}: {p.value!r}" for p in parts if spelled(p)]  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_no_adapter_looks_a_metric_up(adapter: str) -> None:
    found = _lookups((ROOT / adapter).read_text(encoding="utf-8"))
    assert not found, f"{adapter} names metrics itself (measure them in gatewatch/_measure.py): {found}"


def test_the_lookup_check_finds_what_it_must() -> None:
    source = (
        'a = c.metric("cpu")\nb = f["duration"]\nif spec.key in ("queue", "x"): pass\n'
        "d = m.SLOT[k]\nfrom gatewatch.catalogue import BY_KEY\n"
        'metric = {"in_flight": 1}\nmetric.get("cpu")\n'
    )
    assert sorted(_lookups(source)) == [
        "line 1: metric",
        "line 2: 'duration'",
        "line 3: 'queue'",
        "line 4: SLOT",
        "line 5: BY_KEY",
    ]
    assert all(Path(ROOT / adapter).is_file() for adapter in ADAPTERS)
