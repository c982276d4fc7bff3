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
This module imports nothing but the standard library, so that a reader can use it alone.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from typing import Any, Final, Literal, NotRequired, TypedDict, cast

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
    return cast(LiveView, _parse(LiveView, data, "live view"))


def parse_process_snapshot(data: object) -> ProcessSnapshot:
    """Like :func:`parse_live_view`, for one process's snapshot (a worker's file)."""
    return cast(ProcessSnapshot, _parse(ProcessSnapshot, data, "process snapshot"))


class _Invalid(Exception):
    """A value that does not fit; ``where`` is filled in on the way out, innermost last."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.where: list[str] = []


Check = Callable[[object], None]


def _parse(kind: type, data: object, name: str) -> object:
    if isinstance(data, bytes | bytearray | str):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as exc:
            # RecursionError: deeply nested arrays, which json.loads does not bound.
            raise ValueError(f"not a gatewatch {name}: not JSON ({exc})") from None
    if isinstance(data, dict):
        schema = data.get("schema")
        if schema != SCHEMA and isinstance(schema, int) and not isinstance(schema, bool):
            raise ValueError(
                f"gatewatch {name} of schema {schema}; this reader understands schema {SCHEMA} "
                "(use the same gatewatch version on both sides)"
            )
    try:
        _checker(kind)(data)
    except _Invalid as invalid:
        where = "".join(reversed(invalid.where)).lstrip(".") or "the document"
        raise ValueError(f"not a gatewatch {name}: {where}: {invalid.message}") from None
    return data


def _describe(value: object) -> str:
    return "null" if value is None else type(value).__name__


# Scalar types by the exact Python types json.loads gives them, so that a field is checked
# with one set lookup, not a call: a view can hold tens of thousands of fields, and the worker
# merging other workers' files does it on its event loop. A number may be written as an
# integer (JSON does not tell 1 from 1.0); true and false are not integers here.
_SCALARS: dict[object, tuple[frozenset[type], str]] = {
    int: (frozenset({int}), "an integer"),
    float: (frozenset({int, float}), "a number"),
    str: (frozenset({str}), "a string"),
    bool: (frozenset({bool}), "true or false"),
    type(None): (frozenset({type(None)}), "null"),
}


def _scalar(kind: object) -> tuple[frozenset[type], str] | None:
    """The exact types of a scalar or optional scalar type and how to name them; else None."""
    found = _SCALARS.get(kind)
    if found is not None:
        return found
    if typing.get_origin(kind) in (types.UnionType, typing.Union):
        parts = [_scalar(option) for option in typing.get_args(kind)]
        if all(part is not None for part in parts):
            known = cast(list[tuple[frozenset[type], str]], parts)
            return frozenset().union(*(allowed for allowed, _ in known)), " or ".join(n for _, n in known)
    return None


_checkers: dict[object, Check] = {}


def _checker(kind: object) -> Check:
    """A function checking a decoded JSON value against the type ``kind``, built once per type."""
    check = _checkers.get(kind)
    if check is None:
        check = _checkers[kind] = _build(kind)
    return check


def _build(kind: object) -> Check:
    scalar = _scalar(kind)
    if scalar is not None:
        return _scalar_check(*scalar)
    if typing.is_typeddict(kind):
        return _typed_dict(cast(type, kind))
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        return _literal(args)
    if origin is list:
        return _list(args[0])
    if origin is dict and args[0] is str:
        return _dict(_checker(args[1]))
    if origin in (types.UnionType, typing.Union) and type(None) in args and len(args) == 2:
        [inner] = [arg for arg in args if arg is not type(None)]
        return _optional(_checker(inner))
    raise TypeError(f"the live schema uses a type its reader cannot check: {kind!r}")


def _scalar_check(allowed: frozenset[type], expected: str) -> Check:
    def check(value: object) -> None:
        if type(value) not in allowed:
            raise _Invalid(f"expected {expected}, got {_describe(value)}")

    return check


def _typed_dict(kind: type) -> Check:
    # Built on first use, when every type the annotations name exists.
    hints: dict[str, Any] = typing.get_type_hints(kind, include_extras=True)
    # NotRequired keys: fields added without a schema bump, absent from an older producer's
    # view. Read from the hints: under postponed annotations __optional_keys__ misses them.
    optional = frozenset(key for key, hint in hints.items() if typing.get_origin(hint) is NotRequired)
    hints = {key: typing.get_args(hint)[0] if key in optional else hint for key, hint in hints.items()}
    # (key, exact types of a scalar field or None, the check of any other field, a scalar's name)
    fields: list[tuple[str, frozenset[type] | None, Check | None, str]] = []
    for key, hint in hints.items():
        scalar = _scalar(hint)
        if scalar is not None:
            fields.append((key, scalar[0], None, scalar[1]))
        else:
            fields.append((key, None, _checker(hint), ""))
    name = kind.__name__

    def check(value: object) -> None:
        if not isinstance(value, dict):
            raise _Invalid(f"expected an object ({name}), got {_describe(value)}")
        for key, allowed, nested, expected in fields:
            try:
                field = value[key]
            except KeyError:
                if key in optional:
                    continue
                raise _Invalid(f"missing key {key!r} ({name})") from None
            if allowed is not None:
                if type(field) not in allowed:
                    invalid = _Invalid(f"expected {expected}, got {_describe(field)}")
                    invalid.where.append(f".{key}")
                    raise invalid
            elif nested is not None:
                try:
                    nested(field)
                except _Invalid as invalid:
                    invalid.where.append(f".{key}")
                    raise

    return check


def _optional(inner: Check) -> Check:
    def check(value: object) -> None:
        if value is not None:
            inner(value)

    return check


def _literal(values: tuple[Any, ...]) -> Check:
    def check(value: object) -> None:
        # 1 == 1.0 == True in Python; JSON's 1.0 and true are not schema 1.
        if not any(type(value) is type(wanted) and value == wanted for wanted in values):
            got = json.dumps(value) if type(value) is int else _describe(value)
            raise _Invalid(f"expected {' or '.join(json.dumps(v) for v in values)}, got {got}")

    return check


def _list(kind: object) -> Check:
    item = _checker(kind)

    def check(value: object) -> None:
        if not isinstance(value, list):
            raise _Invalid(f"expected an array, got {_describe(value)}")
        for index, entry in enumerate(value):
            try:
                item(entry)
            except _Invalid as invalid:
                invalid.where.append(f"[{index}]")
                raise

    return check


def _dict(item: Check) -> Check:
    def check(value: object) -> None:
        if not isinstance(value, dict):
            raise _Invalid(f"expected an object, got {_describe(value)}")
        for key, entry in value.items():
            try:
                item(entry)
            except _Invalid as invalid:
                invalid.where.append(f"[{json.dumps(key)}]")
                raise

    return check
