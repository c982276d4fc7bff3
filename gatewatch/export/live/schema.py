"""The live view's JSON, typed: the one contract between the library and whatever reads it.

:class:`LiveView` is what the live endpoint serves; each worker process contributes one
:class:`ProcessSnapshot` (also the content of its snapshot file). Every field is described in
``docs/live-schema.md``. The producer (:mod:`gatewatch.export.live.state`,
:func:`gatewatch.export.live._sessions.describe`) is type-checked against these types; readers of untrusted
JSON (the dashboard, the merge of other workers' files) go through :func:`parse_live_view` or
:func:`parse_process_snapshot`, which check every field and raise ``ValueError`` naming the
first one that is wrong.

Versioning: :data:`SCHEMA` is bumped whenever a field changes meaning, unit or type, or is
removed or renamed. Adding a field does not bump it, and readers ignore keys they do not know.
This module and its checker (:mod:`gatewatch.export.live._schema_check`) import nothing but
the standard library, so that a reader can use them alone.
"""

from __future__ import annotations

from typing import Final, Literal, NotRequired, TypedDict, cast

from gatewatch.export.live._schema_check import checked

# A Literal, so that mypy checks the producer writes this number and no other.
SchemaNumber = Literal[1]
SCHEMA: Final[SchemaNumber] = 1


class AwaitedFrame(TypedDict):
    file: str
    line: int
    function: str


class InFlightRequest(TypedDict):
    id: int
    interface: str
    method: str
    route: str | None
    age: float
    blocking: float
    cpu: float | None
    thread_hops: int
    offload: float | None
    view: str | None
    view_kind: str
    awaiting: AwaitedFrame | None


class FinishedRequest(TypedDict):
    interface: str
    method: str
    route_label: str
    status_label: str
    duration: float
    blocking: float
    longest_step: float
    cpu: float | None
    ttfb: float | None
    request_bytes: int
    response_bytes: int
    exception_label: str | None
    disconnected: bool
    concurrency: int
    offload: float | None
    thread_hops: int
    view: str | None
    view_kind: str
    finished_at: float
    after_response: float | None
    queue: float | None


class SecondTotals(TypedDict):
    second: int
    interface: str
    requests: int
    server_errors: int
    disconnects: int
    exceptions: int
    duration_sum: float
    duration_max: float
    blocking_sum: float
    blocking_max: float
    concurrency_max: int


class LagSample(TypedDict):
    at: float
    lag: float


class LoopBlock(TypedDict):
    at: float
    route: str
    duration: float
    stack: list[str]
    # The frames above ``stack`` (the server's, the loop's, the framework's), outermost first:
    # ``outer_stack + stack`` is the whole stack as read, bounded.
    outer_stack: NotRequired[list[str]]


class RouteCounts(TypedDict):
    """Cumulative counts of one process for one interface, route and status, since ``started``:
    the numbers its ``/metrics`` families hold for the same labels."""

    interface: str
    route: str
    status: str
    requests: int
    duration_sum: float
    # Requests per bucket of ``Totals.duration_bounds`` (not cumulative), and one more for
    # the ones above the highest bound.
    duration_buckets: list[int]
    blocking_sum: float
    cpu_sum: float
    cpu_samples: int
    offload_sum: float


class InterfaceCounts(TypedDict):
    """Sums and counts of one interface since ``started``, as its /metrics histograms' sums and
    counts (requests in flight at arrival, queue time, time after the response)."""

    interface: str
    concurrency_sum: float
    concurrency_count: int
    queue_sum: float
    queue_count: int
    after_response_sum: float
    after_response_count: int
    saturated: int


class BlockSite(TypedDict):
    """Loop blocks of one route at one site (the application's innermost frame, or ``""``
    when no stack was read), since ``started``."""

    route: str
    site: str
    count: int
    total: float
    worst: float
    last_at: float
    # The last few blocks here, (wall-clock time, seconds), oldest first.
    recent: list[list[float]]
    # The last stack read here, as ``LoopBlock.stack`` and ``LoopBlock.outer_stack``.
    stack: list[str]
    outer_stack: list[str]


class SessionCounts(TypedDict):
    """WebSocket sessions of one route that ended with one outcome, since ``started``."""

    route: str
    outcome: str
    sessions: int
    received: int
    sent: int
    received_bytes: int
    sent_bytes: int


class Totals(TypedDict):
    """What this process counted since ``started`` (wall clock): the same counts as its
    ``/metrics`` series, so that a reader can difference two snapshots over any window."""

    started: float
    duration_bounds: list[float]
    routes: list[RouteCounts]
    interfaces: list[InterfaceCounts]
    lag_bounds: list[float]
    # Lag samples per bucket of ``lag_bounds`` (not cumulative), one more above the highest.
    lag_buckets: list[int]
    lag_sum: float
    lag_count: int
    block_sites: list[BlockSite]
    # Blocks at sites past the bound on sites kept (counted in their route's total only).
    block_sites_unlisted: int
    sessions: list[SessionCounts]


class MessageCounts(TypedDict):
    text: int
    binary: int
    bytes: int


class WebSocketSession(TypedDict):
    id: int
    route: str
    outcome: str
    age: float
    duration: float | None
    received: MessageCounts
    sent: MessageCounts
    last_message_age: float | None
    close_code: int | None
    initiator: str | None
    blocking: float
    longest_step: float
    closed_at: float | None


class WebSockets(TypedDict):
    open: list[WebSocketSession]
    recent: list[WebSocketSession]
    active_by_route: dict[str, int]
    unlisted: int


class InFlightCount(TypedDict):
    interface: str
    method: str
    count: int


class WSGIWorkers(TypedDict):
    busy: int
    total: int | None


class ProcessSnapshot(TypedDict):
    schema: SchemaNumber
    pid: int
    time: float
    servers: dict[str, str]
    in_flight_counts: list[InFlightCount]
    websockets: WebSockets
    internal_errors: int
    wsgi_workers: WSGIWorkers
    in_flight: list[InFlightRequest]
    in_flight_unlisted: int
    recent: list[FinishedRequest]
    per_second: list[SecondTotals]
    loop_lag: list[LagSample]
    loop_blocks: list[LoopBlock]
    # Added without a schema bump: a reader of an older producer's snapshot finds it missing.
    totals: NotRequired[Totals]


class LiveView(TypedDict):
    schema: SchemaNumber
    time: float
    processes: list[ProcessSnapshot]


# -- reading untrusted JSON ---------------------------------------------------------------


def parse_live_view(data: object) -> LiveView:
    """``data`` (the endpoint's JSON as ``bytes``/``str``, or already decoded) checked against
    :class:`LiveView`; raises ``ValueError`` naming the first field that does not fit, or a
    schema other than :data:`SCHEMA`. Keys it does not know are left in place."""
    return cast(LiveView, checked(LiveView, data, "live view", SCHEMA))


def parse_process_snapshot(data: object) -> ProcessSnapshot:
    """Like :func:`parse_live_view`, for one process's snapshot (a worker's file)."""
    return cast(ProcessSnapshot, checked(ProcessSnapshot, data, "process snapshot", SCHEMA))
