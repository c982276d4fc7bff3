"""The detail tabs' rows of what is running now, from every reading's live view (in flight,
open and recently ended sessions), loop blocks, and routes sorted."""

from __future__ import annotations

import math
from collections.abc import Iterable

from gatewatch.export.live.schema import (
    AwaitedFrame,
)
from gatewatch_dashboard.live_reading import short_file
from gatewatch_dashboard.model import (
    HOLDING_LOOP,
    InFlightRow,
    Reading,
    RouteRow,
    SessionRow,
)


def _awaiting_text(frame: AwaitedFrame | None) -> str:
    if frame is None:
        return ""
    return f"{frame['function']}  {short_file(frame['file'])}:{frame['line']}"


def in_flight_rows(readings: Iterable[Reading]) -> list[InFlightRow]:
    """Requests and WebSocket sessions running now, oldest first."""
    rows = []
    for reading in readings:
        if reading.view is None:
            continue
        for process in reading.view["processes"]:
            for request in process["in_flight"]:
                asgi = request["interface"] == "asgi"
                rows.append(
                    InFlightRow(
                        source=reading.source,
                        pid=process["pid"],
                        kind="http",
                        interface=request["interface"],
                        method=request["method"],
                        route=request["route"] or "?",
                        age=request["age"],
                        held=request["blocking"],
                        offload=request["offload"],
                        hops=request["thread_hops"],
                        awaiting=_awaiting_text(request["awaiting"]),
                        holding_loop=asgi and request["blocking"] >= HOLDING_LOOP,
                    )
                )
            for session in process["websockets"]["open"]:
                rows.append(
                    InFlightRow(
                        source=reading.source,
                        pid=process["pid"],
                        kind="ws",
                        interface="asgi",
                        method="WS",
                        route=session["route"],
                        age=session["age"],
                        held=session["blocking"],
                        offload=None,
                        hops=None,
                        awaiting="",
                        holding_loop=session["blocking"] >= HOLDING_LOOP,
                    )
                )
    rows.sort(key=lambda row: -row.age)
    return rows


def session_rows(readings: Iterable[Reading]) -> tuple[list[SessionRow], list[SessionRow]]:
    """(open sessions, oldest first; recently ended ones, newest first)."""
    open_rows: list[SessionRow] = []
    closed_rows: list[SessionRow] = []
    for reading in readings:
        if reading.view is None:
            continue
        now = reading.view["time"]
        for process in reading.view["processes"]:
            for session, listing in [(s, open_rows) for s in process["websockets"]["open"]] + [
                (s, closed_rows) for s in process["websockets"]["recent"]
            ]:
                received = session["received"]["text"] + session["received"]["binary"]
                sent = session["sent"]["text"] + session["sent"]["binary"]
                duration = session["duration"]
                closed_at = session["closed_at"]
                listing.append(
                    SessionRow(
                        source=reading.source,
                        pid=process["pid"],
                        id=session["id"],
                        route=session["route"],
                        outcome=session["outcome"],
                        age=session["age"],
                        duration=duration,
                        received=received,
                        received_bytes=session["received"]["bytes"],
                        sent=sent,
                        sent_bytes=session["sent"]["bytes"],
                        rate=(received + sent) / duration if duration else None,
                        last_message_age=session["last_message_age"],
                        close_code=session["close_code"],
                        initiator=session["initiator"],
                        closed_ago=None if closed_at is None else max(now - closed_at, 0.0),
                    )
                )
    open_rows.sort(key=lambda row: -row.age)
    closed_rows.sort(key=lambda row: row.closed_ago if row.closed_ago is not None else math.inf)
    return open_rows, closed_rows


def open_sessions(readings: Iterable[Reading]) -> int:
    """WebSocket sessions open now, over every reading (listed or not)."""
    return sum(
        sum(process["websockets"]["active_by_route"].values())
        for reading in readings
        if reading.view is not None
        for process in reading.view["processes"]
    )


SORT_KEYS: tuple[str, ...] = ("rate", "p95", "p99", "blocking", "cpu", "errors", "route")


def sort_routes(rows: Iterable[RouteRow], key: str, route_filter: str = "") -> list[RouteRow]:
    """Rows whose route contains ``route_filter``, sorted by ``key`` (largest first, names A-Z)."""
    wanted = [row for row in rows if route_filter.lower() in row.route.lower()]
    if key == "route":
        return sorted(wanted, key=lambda row: (row.route, row.interface, row.source))

    def number(row: RouteRow) -> float:
        value = getattr(row, key)
        return -math.inf if value is None else float(value)

    return sorted(wanted, key=lambda row: (-number(row), row.route))
