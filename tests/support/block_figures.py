"""Figures of the Blocking tab built by hand: what gatewatch_dashboard.window computes from the
readings (loop blocks per route and site over a span), for the tab's tests and snapshots."""

from __future__ import annotations

from gatewatch_dashboard.figures import DEFAULT_WINDOW, SiteRow, SourceFigures, Span
from gatewatch_dashboard.model import InterfaceStats

from tests.support.hostile_names import FRAME, ROUTES

LIVE = "127.0.0.1:8001"
PAGE = "http://127.0.0.1:8002/metrics"
SPAN = Span(DEFAULT_WINDOW, 60.0, complete=True)

APP_FILE = "/srv/app/examples/starlette_app.py"
# What the loop watch reads above the application: the server's, the loop's, Starlette's.
OUTER = tuple(
    f"/venv/lib/python3.12/site-packages/{module}.py:{line} in {function}: {code}"
    for module, line, function, code in [
        ("uvicorn/protocols/http/httptools_impl", 401, "run_asgi", "result = await app("),
        ("gatewatch/asgi/_middleware", 88, "__call__", "await self.app(scope, receive, send)"),
        ("starlette/applications", 112, "__call__", "await self.middleware_stack(scope, receive, send)"),
        ("starlette/middleware/errors", 165, "__call__", "await self.app(scope, receive, _send)"),
        ("starlette/routing", 715, "__call__", "await self.middleware_stack(scope, receive, send)"),
        ("starlette/routing", 735, "app", "await route.handle(scope, receive, send)"),
        ("starlette/routing", 288, "handle", "await self.app(scope, receive, send)"),
        ("starlette/routing", 76, "app", "await wrap_app_handling_exceptions(app, request)(...)"),
        ("starlette/_exception_handler", 42, "wrapped_app", "await app(scope, receive, sender)"),
        ("starlette/routing", 73, "app", "response = await f(request)"),
        ("starlette/routing", 70, "f", "return await func(request)"),
    ]
)
BLOCKING_SITE = f"{APP_FILE}:41 in blocking"
BLOCKING_STACK = (
    f"{APP_FILE}:39 in blocking: seconds = pause_for(request)",
    f"{APP_FILE}:41 in blocking: time.sleep(seconds)",
)
SLOW_SITE = f"{APP_FILE}:60 in slow"
SLOW_STACK = (
    f"{APP_FILE}:60 in slow: body = json.dumps(rows)",
    "/usr/lib/python3.12/json/encoder.py:200 in encode: chunks = self.iterencode(o, _one_shot=True)",
)


def site(route: str, where: str, count: int, total: float, **kwargs: object) -> SiteRow:
    values: dict[str, object] = {
        "source": LIVE,
        "worst": total / count if count else 0.0,
        "worst_at_least": False,
        "last_seen_ago": 0.4,
    }
    values.update(kwargs)
    return SiteRow(route=route, site=where, count=count, total=total, **values)  # type: ignore[arg-type]


def live(*sites: SiteRow, lag_p99: float | None = 0.1, span: Span = SPAN) -> SourceFigures:
    asgi = InterfaceStats("asgi", "uvicorn", 1, lag_p99=lag_p99)
    return SourceFigures(LIVE, "live", span, interfaces=(asgi,), sites=sites)


def busy_figures() -> tuple[SourceFigures, ...]:
    """91 blocks of /blocking at one site (the log the tab used to be), /slow at two sites, and a
    /metrics page that counts blocks per route only."""
    return (
        live(
            site(
                "/slow",
                SLOW_SITE,
                3,
                0.36,
                worst=0.15,
                worst_at_least=True,
                last_seen_ago=12.0,
                stack=SLOW_STACK,
            ),
            site(
                "/blocking", BLOCKING_SITE, 91, 9.282, worst=0.1023, stack=BLOCKING_STACK, outer_stack=OUTER
            ),
            site(
                "/slow",
                f"{APP_FILE}:64 in slow",
                1,
                0.05,
                last_seen_ago=250.0,
                stack=(f"{APP_FILE}:64 in slow",),
            ),
        ),
        SourceFigures(
            PAGE,
            "metrics",
            SPAN,
            sites=(site("/slow", "", 15, 1.5, source=PAGE, worst=0.0, last_seen_ago=None),),
        ),
    )


def hostile_figures() -> tuple[SourceFigures, ...]:
    return (
        live(
            *(
                site(
                    route,
                    f"/srv/app/{FRAME}views.py:{n} in [b]h[/b]",
                    n + 1,
                    0.1 * (n + 1),
                    stack=(f"/srv/app/views.py:{n} in h: x{FRAME}",),
                )
                for n, route in enumerate(ROUTES.values())
            )
        ),
    )
