"""The live views the dashboard tests read: one ASGI server (uvicorn, one process) and one WSGI
server (gunicorn, two sync workers), busy in every way the tabs show, as of a fixed time.

The JSON files in ``tests/fixtures/`` are what :func:`write` makes of them
(``python -m tests.support.live_fixtures``); every number is fixed, so the tests can name the
numbers each tab must show. Both documents pass ``parse_live_view``.

Each process carries ``totals`` (its cumulative counts) consistent with what the rest of its
snapshot shows, and each document has a later one (:data:`LATER`, 30 s on: more requests, a new
block site, routes named like markup and terminal controls among them), so that a window's
figures are the difference of two documents (:data:`ASGI_LATER_FILE`, :data:`WSGI_LATER_FILE`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.live_fixture_totals import (
    ASGI_STARTED,
    HOSTILE_ROUTE,
    HOSTILE_SESSION_ROUTE,
    HOSTILE_SITE,
    LATER,
    NOW,
    OUTER_STACK,
    SITE,
    WSGI_STARTED,
    asgi_totals,
    wsgi_totals,
)

__all__ = [
    "ASGI_FILE",
    "ASGI_LATER_FILE",
    "ASGI_STARTED",
    "HOSTILE_ROUTE",
    "HOSTILE_SESSION_ROUTE",
    "HOSTILE_SITE",
    "LATER",
    "NOW",
    "WSGI_FILE",
    "WSGI_LATER_FILE",
    "WSGI_STARTED",
    "asgi_later_view",
    "asgi_view",
    "write",
    "wsgi_later_view",
    "wsgi_view",
]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ASGI_FILE = FIXTURES / "live_asgi.json"
WSGI_FILE = FIXTURES / "live_wsgi.json"
ASGI_LATER_FILE = FIXTURES / "live_asgi_later.json"
WSGI_LATER_FILE = FIXTURES / "live_wsgi_later.json"
SECOND = int(NOW) - 1  # the last complete second


def _finished(interface: str, route: str, duration: float, **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "interface": interface,
        "method": "GET",
        "route_label": route,
        "status_label": "200",
        "duration": duration,
        "blocking": duration if interface == "wsgi" else 0.0005,
        "longest_step": duration if interface == "wsgi" else 0.0003,
        "cpu": 0.0004,
        "ttfb": duration,
        "request_bytes": 0,
        "response_bytes": 5,
        "exception_label": None,
        "disconnected": False,
        "concurrency": 0,
        "offload": None,
        "thread_hops": 0,
        "view": None,
        "view_kind": "",
        "finished_at": NOW - 1.0,
        "after_response": 0.0001,
        "queue": None,
    }
    request.update(extra)
    return request


def _in_flight(number: int, interface: str, route: str, age: float, **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "id": number,
        "interface": interface,
        "method": "GET",
        "route": route,
        "age": age,
        "blocking": age if interface == "wsgi" else 0.0004,
        "cpu": None if interface == "wsgi" else 0.0003,
        "thread_hops": 0,
        "offload": None,
        "view": None,
        "view_kind": "",
        "awaiting": None,
    }
    request.update(extra)
    return request


def _seconds(interface: str, requests: int, duration: float, blocking: float, concurrency: int) -> list[Any]:
    """60 seconds of steady traffic, with 1 server error every 5th second."""
    return [
        {
            "second": second,
            "interface": interface,
            "requests": requests + (second % 10) * 2,
            "server_errors": 1 if second % 5 == 0 else 0,
            "disconnects": 0,
            "exceptions": 1 if second % 5 == 0 else 0,
            "duration_sum": (requests + (second % 10) * 2) * duration * (1 + (second % 4) / 4),
            "duration_max": duration * 4,
            "blocking_sum": (
                (requests + (second % 10) * 2) * duration * (1 + (second % 4) / 4)
                if interface == "wsgi"
                else requests * blocking
            ),
            "blocking_max": blocking * 4,
            "concurrency_max": concurrency + (second % 3),
        }
        for second in range(SECOND - 59, SECOND + 1)
    ]


def _session(number: int, route: str, age: float, **extra: Any) -> dict[str, Any]:
    session: dict[str, Any] = {
        "id": number,
        "route": route,
        "outcome": "accepted",
        "age": age,
        "duration": age - 0.001,
        "received": {"text": 40, "binary": 0, "bytes": 800},
        "sent": {"text": 40, "binary": 0, "bytes": 800},
        "last_message_age": 0.2,
        "close_code": None,
        "initiator": None,
        "blocking": 0.002,
        "longest_step": 0.0002,
        "closed_at": None,
    }
    session.update(extra)
    return session


def _process(pid: int, servers: dict[str, str], **parts: Any) -> dict[str, Any]:
    process: dict[str, Any] = {
        "schema": 1,
        "pid": pid,
        "time": NOW,
        "servers": servers,
        "in_flight_counts": [],
        "websockets": {"open": [], "recent": [], "active_by_route": {}, "unlisted": 0},
        "internal_errors": 0,
        "wsgi_workers": {"busy": 0, "total": None},
        "in_flight": [],
        "in_flight_unlisted": 0,
        "recent": [],
        "per_second": [],
        "loop_lag": [],
        "loop_blocks": [],
    }
    process.update(parts)
    return process


def asgi_view() -> dict[str, Any]:
    recent = (
        [_finished("asgi", "/fast", 0.002, finished_at=NOW - 2 + i / 100, concurrency=8) for i in range(40)]
        + [
            _finished("asgi", "/slow", 0.05 + i / 1000, finished_at=NOW - 3 + i / 20, concurrency=12)
            for i in range(20)
        ]
        + [
            _finished("asgi", "/blocking", 0.1, blocking=0.1, longest_step=0.1, cpu=0.0001, concurrency=10)
            for _ in range(5)
        ]
        + [
            _finished(
                "asgi", "/error", 0.003, status_label="500", exception_label="RuntimeError", concurrency=9
            )
            for _ in range(5)
        ]
    )
    frame = {"file": f"{SITE}/anyio/_backends/_asyncio.py", "line": 2510, "function": "sleep"}
    stream_frame = {
        "file": "/srv/app/examples/starlette_app.py",
        "line": 64,
        "function": "stream.<locals>.body",
    }
    in_flight = [
        _in_flight(101, "asgi", "/slow", 0.04, awaiting=frame),
        _in_flight(97, "asgi", "/stream", 1.25, blocking=0.002, awaiting=stream_frame),
        _in_flight(99, "asgi", "/blocking", 0.12, blocking=0.12, cpu=0.0001, awaiting=None),
    ]
    lag = [
        {"at": NOW - 10 + i / 10, "lag": 0.1 if i % 25 == 0 else 0.001 + (i % 7) / 10000} for i in range(100)
    ]
    stack = [
        '  File "/srv/app/examples/starlette_app.py", line 41, in blocking',
        '    time.sleep(float(request.query_params.get("seconds", "0.05")))',
    ]
    blocks = [
        {"at": NOW - 7.5, "route": "/blocking", "duration": 0.1, "stack": stack, "outer_stack": OUTER_STACK},
        {
            "at": NOW - 2.5,
            "route": "/blocking",
            "duration": 0.102,
            "stack": stack,
            "outer_stack": OUTER_STACK,
        },
    ]
    websockets = {
        "open": [
            _session(3, "/ws/echo", 12.0),
            _session(4, "/ws/echo", 2.0, received={"text": 4, "binary": 0, "bytes": 80}),
        ],
        "recent": [
            _session(
                1, "/ws/echo", 5.0, duration=4.0, close_code=1000, initiator="client", closed_at=NOW - 8.0
            ),
            _session(
                2,
                "/ws/reject",
                0.01,
                outcome="rejected",
                duration=None,
                received={"text": 0, "binary": 0, "bytes": 0},
                sent={"text": 0, "binary": 0, "bytes": 0},
                last_message_age=None,
                close_code=1008,
                initiator="server",
                closed_at=NOW - 6.0,
            ),
        ],
        "active_by_route": {"/ws/echo": 2, "/ws/reject": 0},
        "unlisted": 0,
    }
    process = _process(
        4242,
        {"asgi": "uvicorn"},
        in_flight_counts=[{"interface": "asgi", "method": "GET", "count": 3}],
        websockets=websockets,
        in_flight=in_flight,
        recent=recent,
        per_second=_seconds("asgi", 50, 0.02, 0.004, 12),
        loop_lag=lag,
        loop_blocks=blocks,
        totals=asgi_totals(),
    )
    return {"schema": 1, "time": NOW, "processes": [process]}


def wsgi_view() -> dict[str, Any]:
    processes = []
    for index, pid in enumerate((5001, 5002)):
        recent = [
            _finished("wsgi", "/slow", 0.05, finished_at=NOW - 4 + i / 10, queue=0.2 + i / 1000, cpu=0.0003)
            for i in range(30)
        ] + [
            _finished("wsgi", "/ws/echo", 0.001, status_label="426", finished_at=NOW - 1.5) for _ in range(2)
        ]
        processes.append(
            _process(
                pid,
                {"wsgi": "gunicorn"},
                in_flight_counts=[{"interface": "wsgi", "method": "GET", "count": 1}],
                wsgi_workers={"busy": 1, "total": 1},
                in_flight=[
                    _in_flight(
                        31 + index, "wsgi", "/stream" if index else "/slow", 2.0 - index, blocking=2.0 - index
                    )
                ],
                recent=recent,
                per_second=_seconds("wsgi", 10, 0.05, 0.05, 0),
                totals=wsgi_totals(index),
            )
        )
    return {"schema": 1, "time": NOW, "processes": processes}


# Keys holding a Unix time, moved on with the later documents.
_TIMES = ("time", "finished_at", "at", "closed_at", "last_at")


def _moved(value: Any, seconds: float, key: str = "") -> Any:
    """``value`` with every Unix time in it ``seconds`` later (the totals are replaced after)."""
    if isinstance(value, dict):
        return {k: _moved(v, seconds, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(item, seconds, key) for item in value]
    if key in _TIMES and isinstance(value, int | float):
        return value + seconds
    if key == "second" and isinstance(value, int):
        return value + int(seconds)
    return value


def asgi_later_view() -> dict[str, Any]:
    """:func:`asgi_view` 30 s later: every time moved on, and the totals of :data:`LATER`."""
    view: dict[str, Any] = _moved(asgi_view(), LATER - NOW)
    view["processes"][0]["totals"] = asgi_totals(later=True)
    return view


def wsgi_later_view() -> dict[str, Any]:
    """:func:`wsgi_view` 30 s later, as :func:`asgi_later_view`."""
    view: dict[str, Any] = _moved(wsgi_view(), LATER - NOW)
    for index, process in enumerate(view["processes"]):
        process["totals"] = wsgi_totals(index, later=True)
    return view


def write() -> None:
    FIXTURES.mkdir(exist_ok=True)
    for path, view in (
        (ASGI_FILE, asgi_view),
        (WSGI_FILE, wsgi_view),
        (ASGI_LATER_FILE, asgi_later_view),
        (WSGI_LATER_FILE, wsgi_later_view),
    ):
        path.write_text(json.dumps(view(), indent=1) + "\n")


if __name__ == "__main__":
    write()
