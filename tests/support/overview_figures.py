"""Figures built by hand for the Overview's tests: a busy ASGI and a saturated WSGI source over
the last 60 s, and sources with hostile names; deterministic (no clock, no server)."""

from __future__ import annotations

from gatewatch_dashboard.figures import DEFAULT_WINDOW, WINDOWS, SourceFigures, Span, Timeline
from gatewatch_dashboard.model import InterfaceStats, Reading

ASGI_SOURCE = "127.0.0.1:8001"
WSGI_SOURCE = "127.0.0.1:8002"
POINTS = 61  # one a second, 60 s ago to now
AGO = tuple(float(POINTS - 1 - i) for i in range(POINTS))
FULL = Span(DEFAULT_WINDOW, 60.0, True)
HOSTILE = ("[bold red]x[/]", "[@click=app.quit]quit", "evil\x1b[2Jname", "\u202etxt.exe")


def wave(base: float, swing: float, period: int = 10) -> tuple[float, ...]:
    return tuple(base + swing * ((i % period) / period) for i in range(POINTS))


def asgi_figures(source: str = ASGI_SOURCE, span: Span = FULL) -> SourceFigures:
    stats = InterfaceStats(
        interface="asgi",
        server="uvicorn",
        processes=1,
        rate=59.0,
        p50=0.002,
        p95=0.1,
        p99=0.1,
        error_rate=0.02,
        in_flight=3,
        concurrency=9.4,
        blocking_share=0.35,
        lag=0.0011,
        lag_p99=0.1,
        after_response=0.0004,
    )
    timeline = Timeline(
        ago=AGO,
        rate_by_status={"2xx": wave(50.0, 18.0), "4xx": wave(3.0, 2.0, 7), "5xx": wave(1.0, 1.0, 13)},
        p50=tuple(None if 20 <= i < 25 else 2.0e-3 for i in range(POINTS)),
        p95=wave(0.06, 0.04),
        p99=wave(0.09, 0.02),
        lag_p99=wave(0.01, 0.09, 15),
    )
    return SourceFigures(source, "live", span, interfaces=(stats,), timelines={"asgi": timeline})


def wsgi_figures(source: str = WSGI_SOURCE, span: Span = FULL) -> SourceFigures:
    stats = InterfaceStats(
        interface="wsgi",
        server="gunicorn",
        processes=2,
        rate=12.5,
        p50=0.1,
        p95=0.3,
        p99=0.45,
        error_rate=0.0,
        in_flight=2,
        concurrency=1.8,
        blocking_share=1.0,
        busy=2,
        capacity=2,
        queue=0.2145,
        after_response=0.0,
    )
    timeline = Timeline(
        ago=AGO,
        rate_by_status={"2xx": wave(10.0, 5.0), "3xx": wave(1.0, 1.0, 6)},
        p50=wave(0.1, 0.02),
        p95=wave(0.3, 0.05),
        p99=wave(0.4, 0.1),
        busy=tuple(float(i % 3) for i in range(POINTS)),
        capacity=2,
    )
    return SourceFigures(source, "live", span, interfaces=(stats,), timelines={"wsgi": timeline})


def reading(figures: SourceFigures, error: str | None = None, polls: int = 7) -> Reading:
    return Reading(source=figures.source, kind=figures.kind, error=error, polls=polls)


def busy() -> tuple[tuple[Reading, ...], tuple[SourceFigures, ...]]:
    figures = (asgi_figures(), wsgi_figures())
    return tuple(reading(f) for f in figures), figures


def hostile() -> tuple[tuple[Reading, ...], tuple[SourceFigures, ...]]:
    figures = (
        asgi_figures(HOSTILE[0], Span(WINDOWS[0], 4.0, False)),
        wsgi_figures(HOSTILE[1]),
        SourceFigures(HOSTILE[2], "live", FULL, error="ConnectError: [b]refused[/b]\x1b[31m"),
    )
    readings = (
        reading(figures[0]),
        reading(figures[1]),
        reading(figures[2], error="ConnectError: [b]refused[/b]\x1b[31m; retrying"),
    )
    return readings, figures
