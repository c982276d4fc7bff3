"""From a finished record (or a monitor event) to its measurements: the one place that knows
which catalogue metric each number feeds, with which bounded label values and which value.

Prometheus (one process or many) and OpenTelemetry adapt what these functions return; none of
them reads a record to decide what to export, and none names a metric (tests/test_measure.py).
A new metric is one spec in :mod:`gatewatch.catalogue` and one measurement here.

Measurements are plain tuples, cheap to build and to read on the aggregation path:

* **slot**: a spec's position in :data:`gatewatch.catalogue.METRICS` (:data:`SLOT`).
* **a request's own series**: :func:`measure_request` returns ``(key, values, extras)``. ``key``
  is the record's label vector (:data:`KEY_LABELS`); ``values`` is aligned with
  :data:`REQUEST_SERIES`, each of those specs labelled by its labels' positions in the key
  (:data:`REQUEST_POSITIONS`). Those series exist from their key's first request (but the
  :data:`REQUEST_LAZY` ones, from their first value); a value of None records nothing (CPU time
  on a request not sampled, no first byte).
* **extras**: ``(slot, labels, value)`` for what only some records (or events) feed. A value of
  None makes the series exist without a sample.

A spec's kind says what a value does: a histogram observes it, a counter adds it, an info
metric is set (to 1). A gauge's value is a level in :func:`measure_state` (read when exported),
:func:`server_noted` and :func:`worker_threads_noted`, and a change in :func:`arrival` and
:func:`session_open`: those events are for the multiprocess files, which have no monitor to
read at scrape time.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from gatewatch import catalogue as c
from gatewatch.record import WSGI, RequestRecord, WebSocketRecord
from gatewatch.version import VERSION

if TYPE_CHECKING:
    from gatewatch.monitor import Monitor

Labels = tuple[str, ...]
# (slot, label values, value): see the module docstring.
Extra = tuple[int, Labels, float | None]
# (interface, method label, route label, status label).
Key = tuple[str, str, str, str]
RequestMeasurements = tuple[Key, tuple[float | None, ...], list[Extra] | None]

SLOT: Final[Mapping[str, int]] = MappingProxyType({spec.key: i for i, spec in enumerate(c.METRICS)})

# The label names of a request's key, in order.
KEY_LABELS: Final = ("interface", "method", "route", "status")
_REQUEST_KEYS: Final = (
    "duration",
    "ttfb",
    "after_response",
    "blocking",
    "cpu",
    "concurrency",
    "request_bytes",
    "response_bytes",
    "route_blocking",
    "route_cpu",
    "route_cpu_samples",
)
# The series every request feeds, by slot, in the order of measure_request's values.
REQUEST_SERIES: Final = tuple(SLOT[key] for key in _REQUEST_KEYS)
# Those whose value may be None (nothing measured).
REQUEST_OPTIONAL: Final = frozenset(
    _REQUEST_KEYS.index(key) for key in ("ttfb", "after_response", "cpu", "route_cpu", "route_cpu_samples")
)
# Those made by their first value rather than by their key's first request: Django's close hop
# or background tasks, not every route has them.
REQUEST_LAZY: Final = frozenset({_REQUEST_KEYS.index("after_response")})

Positions = tuple[tuple[int, ...], ...]


def request_positions(label_names: tuple[tuple[str, ...], ...]) -> Positions:
    """Each request series' labels as positions in the request's key, given every slot's label
    names (:attr:`gatewatch._histogram.HistogramChoice.label_names`: the series preset)."""
    return tuple(tuple(KEY_LABELS.index(label) for label in label_names[slot]) for slot in REQUEST_SERIES)


# With every spec's own labels (the full preset).
REQUEST_POSITIONS: Final = request_positions(tuple(spec.labels for spec in c.METRICS))
# The series a sampled span's trace rides on, as the exemplar of its bucket.
EXEMPLAR: Final = SLOT["duration"]
# The series OpenTelemetry also summarises over its last samples, as Node.js' eventloop.delay.
LAG_SUMMARY: Final = SLOT["loop_lag"]

# Close codes are the client's to choose: at most this many distinct ones across the server
# (the process, or every worker sharing the multiprocess directory: gatewatch.monitor bounds
# them as it bounds routes); later newcomers share "other". RFC 6455's codes and an app's own
# 4000-4999 are few in practice, but a label must be bounded by construction.
MAX_CLOSE_CODES: Final = 64
CLOSE_CODE_OVERFLOW: Final = "other"

_OFFLOAD = SLOT["offload"]
_OFFLOAD_QUEUE = SLOT["offload_queue"]
_ROUTE_OFFLOAD = SLOT["route_offload"]
_THREAD_HOPS = SLOT["thread_hops"]
_ROUTE_VIEW = SLOT["route_view"]
_QUEUE = SLOT["queue"]
_SATURATED = SLOT["saturated"]
_EXCEPTIONS = SLOT["exceptions"]
_DISCONNECTS = SLOT["disconnects"]
_IN_FLIGHT = SLOT["in_flight"]
_WORKERS_BUSY = SLOT["workers_busy"]
_WORKERS_CAPACITY = SLOT["workers_capacity"]
_INTERNAL_ERRORS = SLOT["internal_errors"]
_INFO = SLOT["info"]
_LOOP_LAG = SLOT["loop_lag"]
_LOOP_BLOCKS = SLOT["loop_blocks"]
_LOOP_BLOCKED = SLOT["loop_blocked"]
_WS_ACTIVE = SLOT["websocket_active"]
_WS_SESSIONS = SLOT["websocket_sessions"]
_WS_DURATION = SLOT["websocket_duration"]
_WS_BLOCKING = SLOT["websocket_blocking"]
_WS_MESSAGES = SLOT["websocket_messages"]
_WS_BYTES = SLOT["websocket_bytes"]
_WS_CLOSES = SLOT["websocket_closes"]
_WS_EXCEPTIONS = SLOT["websocket_exceptions"]


def close_code_label(code: int | None) -> str:
    """A close code as a label before bounding: "none" without one, "other" outside 1000-4999."""
    if code is None:
        return "none"
    if isinstance(code, int) and 1000 <= code <= 4999:
        return str(code)
    return CLOSE_CODE_OVERFLOW


def measure_request(record: RequestRecord, worker_threads: int | None) -> RequestMeasurements:
    """A finished request's measurements (its labels bounded by the monitor's finish).

    ``worker_threads``: how many WSGI requests this process serves at once, when known. A WSGI
    request that took the last free one (its arrival saw ``threads - 1`` others in flight) is
    *saturated*: the ones arriving after it wait for a thread.
    """
    # Measured once: every sink (Prometheus, the live view, OpenTelemetry) reads the same
    # record, and a finished record no longer changes.
    measured = record.measured
    if measured is not None and record.measured_threads == worker_threads:
        return measured
    start = record.start
    first_byte = record.first_byte
    interface = record.interface
    values = (
        (record.end or start) - start,
        None if first_byte is None else first_byte - start,
        record.after_response,
        record.blocking,
        record.cpu,
        record.concurrency,
        record.request_bytes,
        record.response_bytes,
        record.blocking,
        record.cpu,
        None if record.cpu is None else 1,
    )
    key = (interface, record.method, record.route_label, record.status_label)
    saturated = worker_threads is not None and interface == WSGI and record.concurrency + 1 >= worker_threads
    # Most requests have none of these: a few tests, and no list.
    if (
        record.offload is None
        and not record.after_exception_label
        and record.view is None
        and record.queue is None
        and record.exception is None
        and not record.disconnected
        and not saturated
    ):
        measured = key, values, None
    else:
        measured = key, values, _extras(record, saturated)
    record.measured = measured
    record.measured_threads = worker_threads
    return measured


def _extras(record: RequestRecord, saturated: bool) -> list[Extra]:
    interface = record.interface
    route = record.route_label
    route_key = (interface, record.method, route)
    extras: list[Extra] = []
    if record.after_exception_label:
        extras.append((_EXCEPTIONS, (interface, route, record.after_exception_label), 1))
    if record.offload is not None:
        extras.append((_OFFLOAD, route_key, record.offload))
        extras.append((_ROUTE_OFFLOAD, route_key, record.offload))
        extras.append((_OFFLOAD_QUEUE, route_key, record.offload_queue))
        extras.append((_THREAD_HOPS, route_key, record.thread_hops))
    if record.view is not None:
        extras.append((_ROUTE_VIEW, (interface, route, record.view, record.view_kind), 1))
    if record.queue is not None:
        extras.append((_QUEUE, (interface,), record.queue))
    if saturated:
        extras.append((_SATURATED, (), 1))
    if record.exception is not None:
        extras.append((_EXCEPTIONS, (interface, route, record.exception_label), 1))
    if record.disconnected:
        extras.append((_DISCONNECTS, (interface, route), 1))
    return extras


def series_labels(key: Key, index: int, positions: Positions = REQUEST_POSITIONS) -> Labels:
    """The label values of a request's own series ``index`` (in :data:`REQUEST_SERIES`)."""
    return tuple(key[p] for p in positions[index])


def request_extras(measured: RequestMeasurements, positions: Positions = REQUEST_POSITIONS) -> list[Extra]:
    """Every measurement of a request as extras: its own series too (for adapters that
    record a request at a time)."""
    key, values, extras = measured
    own: list[Extra] = [
        (slot, tuple(key[p] for p in labels), value)
        for slot, labels, value in zip(REQUEST_SERIES, positions, values, strict=True)
    ]
    return own if extras is None else own + extras


def measure_session(record: WebSocketRecord) -> list[Extra]:
    """A finished WebSocket session's measurements (accepted or not)."""
    route = record.route_label
    measured: list[Extra] = [
        (_WS_SESSIONS, (route, record.outcome), 1),
        (_WS_BLOCKING, (route,), record.blocking),
    ]
    duration = record.session_duration
    # A route's session duration exists from its first session on, accepted or not.
    measured.append((_WS_DURATION, (route,), duration))
    if duration is not None:
        measured.append((_WS_CLOSES, (route, record.close_label, record.initiator), 1))
    measured += [
        (_WS_MESSAGES, (route, "received", "text"), record.received_text),
        (_WS_MESSAGES, (route, "received", "binary"), record.received_binary),
        (_WS_MESSAGES, (route, "sent", "text"), record.sent_text),
        (_WS_MESSAGES, (route, "sent", "binary"), record.sent_binary),
        (_WS_BYTES, (route, "received"), record.received_bytes),
        (_WS_BYTES, (route, "sent"), record.sent_bytes),
    ]
    if record.exception is not None:
        measured.append((_WS_EXCEPTIONS, (route, record.exception_label), 1))
    return measured


def measure_lag(seconds: float) -> list[Extra]:
    return [(_LOOP_LAG, (), seconds)]


def measure_block(route: str, duration: float) -> list[Extra]:
    return [(_LOOP_BLOCKS, (route,), 1), (_LOOP_BLOCKED, (route,), duration)]


def capacity_known() -> list[Extra]:
    """Once a process knows its worker threads, its saturation count exists (at 0)."""
    return [(_SATURATED, (), None)]


def measure_state(monitor: Monitor) -> list[Extra]:
    """The monitor's levels when exported: requests and sessions open now, internal errors,
    the servers, and the WSGI worker threads once this process served WSGI or knows its
    capacity (the capacity only when known: a 0 would claim a worker that serves nothing)."""
    state: list[Extra] = [
        (_IN_FLIGHT, labels, count) for labels, count in sorted(monitor.in_flight().items())
    ]
    state.append((_INTERNAL_ERRORS, (), monitor.internal_errors))
    state += [(_INFO, (VERSION, i, s), 1) for i, s in sorted(monitor.servers.items())]
    busy = monitor.in_flight_of(WSGI)
    threads = monitor.worker_threads
    if busy is not None or threads is not None:
        state.append((_WORKERS_BUSY, (), busy or 0))
        if threads is not None:
            state.append((_WORKERS_CAPACITY, (), threads))
    state += [(_WS_ACTIVE, (route,), n) for route, n in sorted(monitor.sessions.active().items())]
    return state


# -- Events (the multiprocess files) ------------------------------------------------------


def arrival(record: RequestRecord, change: int = 1) -> list[Extra]:
    """A request entering (``change`` 1) or leaving (-1) the in-flight counts."""
    measured: list[Extra] = [(_IN_FLIGHT, (record.interface, record.method), change)]
    if record.interface == WSGI:
        measured.append((_WORKERS_BUSY, (), change))
    return measured


def session_open(record: WebSocketRecord, change: int = 1) -> list[Extra]:
    return [(_WS_ACTIVE, (record.route_label,), change)]


def server_noted(interface: str, server: str) -> list[Extra]:
    return [(_INFO, (VERSION, interface, server), 1)]


def worker_threads_noted(threads: int) -> list[Extra]:
    """The capacity; busy and saturation exist from now on."""
    return [(_WORKERS_CAPACITY, (), threads), (_WORKERS_BUSY, (), None), *capacity_known()]


def internal_error() -> list[Extra]:
    return [(_INTERNAL_ERRORS, (), 1)]
