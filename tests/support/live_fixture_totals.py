"""The cumulative counts (``totals``) of the recorded live views (:mod:`tests.support.live_fixtures`):
as of :data:`NOW` and of :data:`LATER`, consistent with what the rest of each snapshot shows."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from gatewatch._buckets import LAG, REQUEST

NOW = 1764090000.5
LATER = NOW + 30.0  # the later documents' time
ASGI_STARTED = NOW - 600.0
WSGI_STARTED = NOW - 300.0
# Names an app may give, shaped like markup and terminal controls: data, never markup.
HOSTILE_ROUTE = "[bold]/h[/]\x1b[2J"
HOSTILE_SESSION_ROUTE = "/ws/[@click=app.quit]q[/]\r\n"
HOSTILE_SITE = "/srv/app/examples/starlette_app.py:77 in [red]handler[/]"

SITE = "/srv/app/.venv/lib/python3.12/site-packages"


def _route(
    interface: str, route: str, status: str, groups: list[tuple[int, float]], blocking: float | None = None
) -> dict[str, Any]:
    """A route's counts: ``groups`` of (requests, seconds each); ``blocking`` each (WSGI: the
    duration); one request in 8 had its CPU time measured (0.0004 s)."""
    buckets = [0] * (len(REQUEST) + 1)
    requests, duration_sum, blocking_sum = 0, 0.0, 0.0
    for count, seconds in groups:
        buckets[bisect_left(REQUEST, seconds)] += count
        requests += count
        duration_sum += count * seconds
        blocking_sum += count * (seconds if blocking is None else blocking)
    return {
        "interface": interface,
        "route": route,
        "status": status,
        "requests": requests,
        "duration_sum": duration_sum,
        "duration_buckets": buckets,
        "blocking_sum": blocking_sum,
        "cpu_sum": requests // 8 * 0.0004,
        "cpu_samples": requests // 8,
        "offload_sum": 0.0,
    }


def _interface(
    interface: str, routes: list[dict[str, Any]], concurrency: float, **extra: Any
) -> dict[str, Any]:
    requests = sum(route["requests"] for route in routes if route["interface"] == interface)
    counts: dict[str, Any] = {
        "interface": interface,
        "concurrency_sum": requests * concurrency,
        "concurrency_count": requests,
        "queue_sum": 0.0,
        "queue_count": 0,
        "after_response_sum": requests * 0.0001,
        "after_response_count": requests,
        "saturated": 0,
    }
    counts.update(extra)
    return counts


def _site(route: str, site: str, count: int, seconds: float, last_at: float, **extra: Any) -> dict[str, Any]:
    """``count`` blocks of ``seconds`` each, every 10 s up to ``last_at`` (the last 16 listed)."""
    recent = [[last_at - 10.0 * back, seconds] for back in reversed(range(min(count, 16)))]
    entry: dict[str, Any] = {
        "route": route,
        "site": site,
        "count": count,
        "total": count * seconds,
        "worst": seconds,
        "last_at": last_at,
        "recent": recent,
        "stack": [],
        "outer_stack": [],
    }
    entry.update(extra)
    return entry


def _sessions(route: str, outcome: str, sessions: int, messages: int) -> dict[str, Any]:
    return {
        "route": route,
        "outcome": outcome,
        "sessions": sessions,
        "received": sessions * messages,
        "sent": sessions * messages,
        "received_bytes": sessions * messages * 20,
        "sent_bytes": sessions * messages * 20,
    }


def _totals(started: float, routes: list[dict[str, Any]], **parts: Any) -> dict[str, Any]:
    totals: dict[str, Any] = {
        "started": started,
        "duration_bounds": list(REQUEST),
        "routes": routes,
        "interfaces": [],
        "lag_bounds": list(LAG),
        "lag_buckets": [0] * (len(LAG) + 1),
        "lag_sum": 0.0,
        "lag_count": 0,
        "block_sites": [],
        "block_sites_unlisted": 0,
        "sessions": [],
    }
    totals.update(parts)
    return totals


def _lag(fast: int, slow: int) -> dict[str, Any]:
    """``fast`` samples of about 1 ms (a tenth at 1 ms, the rest 1.3 ms) and ``slow`` of 100 ms."""
    at_1ms = fast // 10
    buckets = [0] * (len(LAG) + 1)
    buckets[bisect_left(LAG, 0.001)] = at_1ms
    buckets[bisect_left(LAG, 0.0013)] = fast - at_1ms
    buckets[bisect_left(LAG, 0.1)] = slow
    lag_sum = at_1ms * 0.001 + (fast - at_1ms) * 0.0013 + slow * 0.1
    return {"lag_buckets": buckets, "lag_sum": lag_sum, "lag_count": fast + slow}


BLOCKING_SITE = "/srv/app/examples/starlette_app.py:41 in blocking"
JSON_SITE = "/srv/app/examples/starlette_app.py:52 in heavy_json"
OUTER_STACK = [
    f"{SITE}/uvicorn/protocols/http/httptools_impl.py:409 in run_asgi: result = await app(",
    f"{SITE}/gatewatch/asgi/middleware.py:120 in __call__: await timed",
    f"{SITE}/starlette/routing.py:74 in app: response = await f(request)",
    f"{SITE}/starlette/concurrency.py:39 in run_in_threadpool: return await anyio.to_thread.run_sync(func)",
]
APP_STACK = [
    "/srv/app/examples/starlette_app.py:41 in blocking: "
    'time.sleep(float(request.query_params.get("seconds", "0.05")))'
]


def asgi_totals(later: bool = False) -> dict[str, Any]:
    """The ASGI process's counts: as of :data:`NOW`, or of :data:`LATER`."""
    more = 1 if later else 0
    routes = [
        _route("asgi", "/fast", "200", [(1160 + 1500 * more, 0.002), (40 + 50 * more, 0.004)], 0.0005),
        _route("asgi", "/slow", "200", [(180 + 60 * more, 0.05), (120 + 40 * more, 0.07)], 0.0005),
        _route("asgi", "/blocking", "200", [(40 + 15 * more, 0.1)], 0.1),
        _route("asgi", "/error", "500", [(25, 0.003)], 0.0005),
        _route("asgi", "<unmatched>", "404", [(6 + 2 * more, 0.001)], 0.0002),
    ]
    sites = [
        _site(
            "/blocking",
            BLOCKING_SITE,
            40 + 11 * more,
            0.1,
            NOW - 2.5 + 30 * more,
            stack=APP_STACK,
            outer_stack=OUTER_STACK,
        ),
        _site("<background>", "", 2, 0.075, NOW - 400.0),
    ]
    sessions = [
        _sessions("/ws/echo", "accepted", 7 + 2 * more, 40),
        _sessions("/ws/reject", "rejected", 3, 0),
    ]
    if later:
        routes.append(_route("asgi", HOSTILE_ROUTE, "200", [(12, 0.01)], 0.001))
        sites.append(
            _site(
                "/blocking",
                JSON_SITE,
                4,
                0.06,
                LATER - 4.0,
                stack=[f"{JSON_SITE}: json.dumps(rows)"],
                outer_stack=OUTER_STACK,
            )
        )
        sites.append(
            _site(HOSTILE_ROUTE, HOSTILE_SITE, 3, 0.055, LATER - 1.0, stack=[f"{HOSTILE_SITE}: f()"])
        )
        sessions.append(_sessions(HOSTILE_SESSION_ROUTE, "accepted", 1, 3))
    return _totals(
        ASGI_STARTED,
        routes,
        interfaces=[_interface("asgi", routes, 9.0)],
        block_sites=sites,
        sessions=sessions,
        **_lag(5760 + 288 * more, 240 + 12 * more),
    )


def wsgi_totals(index: int, later: bool = False) -> dict[str, Any]:
    """Worker ``index`` (0, 1)'s counts: as of :data:`NOW`, or of :data:`LATER`. Each has one
    thread, so every request took its last free one (saturated)."""
    more = 1 if later else 0
    slow = 200 + 10 * index + 60 * more
    routes = [
        _route("wsgi", "/slow", "200", [(slow, 0.05)]),
        _route("wsgi", "/ws/echo", "426", [(6, 0.001)]),
    ]
    if later and index == 1:
        routes.append(_route("wsgi", HOSTILE_ROUTE, "200", [(5, 0.02)]))
    requests = sum(route["requests"] for route in routes)
    interface = _interface("wsgi", routes, 0.0, queue_sum=slow * 0.21, queue_count=slow, saturated=requests)
    return _totals(WSGI_STARTED, routes, interfaces=[interface])
