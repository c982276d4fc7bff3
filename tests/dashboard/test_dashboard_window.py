"""The dashboard's windows: figures cut from cumulative counters read at known times (no
network, no clock); the tabs that show them are in test_dashboard_window_tabs.py."""

from __future__ import annotations

import pytest
from gatewatch_dashboard.counters import (
    SessionCounters,
    SiteCounters,
)
from gatewatch_dashboard.figures import SourceFigures, Span, Window
from gatewatch_dashboard.window import TIMELINE_POINTS, ReadingLog, spans_text

from gatewatch.export.prometheus.scrape_summary import histogram_quantile
from tests.support.window_counters import (
    FIVE_MIN,
    ITEMS,
    ROOT,
    SINCE_START,
    SIXTY_S,
    TEN_S,
    log_of,
    process,
    reading,
    route,
)

# -- the numbers -----------------------------------------------------------------------------


def test_two_readings_give_the_difference_over_the_time_between_them() -> None:
    first = reading(1000.0, process(1000.0, {ROOT: route(100, fast=100), ITEMS: route(10)}))
    last = reading(
        1030.0, process(1030.0, {ROOT: route(300, fast=250, errors=3, held=6.0), ITEMS: route(10)})
    )
    log = log_of(first, last)
    [figures] = log.figures([last], SIXTY_S)
    assert figures.span == Span(SIXTY_S, 30.0, False)
    assert figures.span.text() == "last 60 s (30 s so far)"
    [stats] = figures.interfaces
    assert stats.rate == pytest.approx(200 / 30)
    assert stats.error_rate == pytest.approx(3 / 200)
    # Δ buckets: 150 under 10 ms, 50 between 0.1 and 1 s: quantiles as histogram_quantile has them.
    delta = [(0.01, 150.0), (0.1, 150.0), (1.0, 200.0), (float("inf"), 200.0)]
    assert stats.p50 == histogram_quantile(0.5, delta) == pytest.approx(0.01 * 100 / 150)
    assert stats.p99 == histogram_quantile(0.99, delta)
    assert stats.blocking_share == pytest.approx(6.0 / (150 * 0.005 + 50 * 0.5))
    assert (stats.in_flight, stats.server) == (3, "uvicorn")  # gauges as read last
    # A route without requests in the window has no row; the other counts what it did in it.
    [row] = figures.routes
    assert (row.route, row.requests, row.errors) == ("/", 200, 3)
    assert row.rate == pytest.approx(200 / 30)
    assert row.blocking == pytest.approx(6.0 / 200) and row.cpu == pytest.approx(3.0 / 200)
    # The last 10 s start after the first reading: the whole window is covered.
    [short] = log.figures([last], TEN_S)
    assert short.span.text() == "last 10 s (over 30 s)" and short.span.complete
    assert short.routes[0].requests == 200


def test_the_reading_at_or_before_the_start_is_the_baseline() -> None:
    readings = [
        reading(at, process(at, {ROOT: route(at - 1000, fast=at - 1000)}))
        for at in (1000.0, 1050.0, 1070.0, 1110.0)
    ]
    log = log_of(*readings)
    [figures] = log.figures(readings[-1:], SIXTY_S)  # starts at 1050: that reading is the baseline
    assert figures.routes[0].requests == 60
    assert figures.span.seconds == 60.0 and figures.span.text() == "last 60 s"
    [figures] = log.figures(readings[-1:], TEN_S)
    assert (figures.routes[0].requests, figures.span.seconds) == (40, 40.0)


def test_a_counter_that_went_down_counts_from_zero() -> None:
    before = reading(1000.0, process(1000.0, {ROOT: route(500)}, started=None))
    after = reading(1010.0, process(1010.0, {ROOT: route(20)}, started=None))
    [figures] = log_of(before, after).figures([after], SIXTY_S)
    assert figures.routes[0].requests == 20
    # A process that restarted (another start time) counts everything anew, even what grew.
    before = reading(1000.0, process(1000.0, {ROOT: route(5)}, started=900.0))
    after = reading(1010.0, process(1010.0, {ROOT: route(8)}, started=1005.0))
    [figures] = log_of(before, after).figures([after], SIXTY_S)
    assert figures.routes[0].requests == 8


def test_processes_are_differenced_apart_and_summed() -> None:
    first = reading(
        1000.0, process(1000.0, {ROOT: route(10)}, key="1"), process(1000.0, {ROOT: route(50)}, key="2")
    )
    last = reading(
        1020.0,
        process(1020.0, {ROOT: route(15)}, key="1"),
        process(1020.0, {ROOT: route(5)}, key="2", started=1010.0),  # restarted in between
        process(1020.0, {ROOT: route(7)}, key="3", started=1015.0),  # a new worker
    )
    [figures] = log_of(first, last).figures([last], SIXTY_S)
    assert figures.routes[0].requests == 5 + 5 + 7


def test_a_process_started_inside_the_window_counts_everything_from_its_start() -> None:
    only = reading(1030.0, process(1030.0, {ROOT: route(50)}, started=1025.0))
    [figures] = log_of(only).figures([only], SIXTY_S)
    assert figures.routes[0].requests == 50
    assert figures.span.text() == "last 60 s (5 s so far)"
    assert figures.routes[0].rate == pytest.approx(10.0)


def test_since_start_is_the_counters_themselves() -> None:
    first = reading(1000.0, process(1000.0, {ROOT: route(100)}, started=900.0))
    last = reading(1030.0, process(1030.0, {ROOT: route(130)}, started=900.0))
    [figures] = log_of(first, last).figures([last], SINCE_START)
    assert figures.routes[0].requests == 130
    assert figures.routes[0].rate == pytest.approx(1.0)
    assert figures.span.text() == "since start (2 min 10 s)"
    unknown = reading(1030.0, process(1030.0, {ROOT: route(130)}, started=None))
    [figures] = log_of(unknown).figures([unknown], SINCE_START)
    assert figures.routes[0].requests == 130 and figures.routes[0].rate is None
    assert figures.interfaces[0].rate is None
    assert figures.span.text() == "since start"


def test_span_text() -> None:
    assert Span(SIXTY_S, 12.7, False).text() == "last 60 s (12 s so far)"
    assert Span(FIVE_MIN, 300.4, True).text() == "last 5 min"
    assert Span(TEN_S, 30.0, True).text() == "last 10 s (over 30 s)"  # readings that far apart
    first = SourceFigures(source="a", kind="live", span=Span(SINCE_START, 630.0, True))
    second = SourceFigures(source="b\x1b[2J", kind="live", span=Span(SINCE_START, 330.0, True))
    assert spans_text([first, first]) == "since start (10 min 30 s)"
    assert spans_text([first, second]) == "since start (10 min 30 s on a, 5 min 30 s on b\\x1b[2J)"
    partial = SourceFigures(source="c", kind="live", span=Span(SIXTY_S, 12.0, False))
    whole = SourceFigures(source="d", kind="live", span=Span(SIXTY_S, 60.2, True))
    assert spans_text([whole, partial]) == "last 60 s (12 s so far on c)"
    assert Span(SINCE_START, 3725.0, True).text() == "since start (1 h 2 min)"
    assert Span(Window("last 60 s", 60.0), 0.0, False, known=False).text() == "as the source computes it"


def test_loop_block_sites_over_the_window() -> None:
    site = ("/blocking", "app.py:12 in handler")

    def blocks(count: float, recent: tuple[tuple[float, float], ...], worst: float) -> SiteCounters:
        return SiteCounters(count=count, total=count * 0.1, worst=worst, last_at=recent[-1][0], recent=recent)

    first = reading(1000.0, process(1000.0, {}, sites={site: blocks(5, ((990.0, 0.9),), 0.9)}))
    recent = ((990.0, 0.9), (1010.0, 0.2), (1020.0, 0.3))
    last = reading(1030.0, process(1030.0, {}, sites={site: blocks(9, recent, 0.9)}))
    log = log_of(first, last)
    [row] = log.figures([last], SIXTY_S)[0].sites
    # Four blocks in the span, two of them kept: the worst is at least the longer one.
    assert (row.count, row.worst, row.worst_at_least) == (4, 0.3, True)
    assert row.total == pytest.approx(0.4)
    assert row.last_seen_ago == 10.0
    [row] = log.figures([last], SINCE_START)[0].sites
    assert (row.count, row.worst, row.worst_at_least) == (9, 0.9, False)


def test_sessions_and_workers_over_the_window() -> None:
    ws = ("/ws", "accepted")
    first = reading(
        1000.0, process(1000.0, {}, saturated=3, sessions={ws: SessionCounters(sessions=2, received=10)})
    )
    last = reading(
        1010.0,
        process(1010.0, {}, saturated=8, sessions={ws: SessionCounters(sessions=5, received=40)}),
        busy=2,
    )
    [figures] = log_of(first, last).figures([last], SIXTY_S)
    assert figures.sessions[ws] == SessionCounters(sessions=3, received=30)
    [worker] = figures.workers
    assert (worker.busy, worker.saturated, worker.is_saturated) == (2, 5, True)
    assert worker.queue is None  # no queue time read in the window
    assert next(s.saturated for s in figures.interfaces if s.interface == "wsgi") == 5


def test_the_timeline_has_one_point_per_step_at_most_a_hundred_and_twenty() -> None:
    readings = [
        reading(
            1000.0 + second,
            process(1000.0 + second, {ROOT: route(second * 4, errors=second)}),
            busy=second % 3,
        )
        for second in range(0, 301)
    ]
    log = log_of(*readings)
    [figures] = log.figures(readings[-1:], TEN_S)
    timeline = figures.timelines["asgi"]
    assert timeline.ago == tuple(float(n) for n in range(9, -1, -1))
    assert timeline.rate_by_status["2xx"] == (3.0,) * 10 and timeline.rate_by_status["5xx"] == (1.0,) * 10
    assert timeline.p50[-1] == pytest.approx(0.55)
    [figures] = log.figures(readings[-1:], FIVE_MIN)
    timeline = figures.timelines["asgi"]
    assert len(timeline.ago) == 100 <= TIMELINE_POINTS  # 300 steps, three to a point
    assert timeline.rate_by_status["2xx"][0] == pytest.approx(3.0)
    assert timeline.busy[0] == 2  # the most busy of the point's steps


def test_readings_are_kept_for_five_minutes_and_bounded_in_count() -> None:
    log = ReadingLog()
    for tenth in range(20_000):  # 2000 s, ten a second
        at = 1000.0 + tenth / 10
        log.add(reading(at, process(at, {ROOT: route(tenth)})))
    assert log.kept("app") <= log.max_kept
    last = reading(3000.0, process(3000.0, {ROOT: route(20_000)}))
    log.add(last)
    [figures] = log.figures([last], FIVE_MIN)
    assert figures.span.complete and figures.span.seconds <= 301.0
    assert figures.routes[0].requests == pytest.approx(figures.span.seconds * 10, abs=1)


def test_a_failed_poll_keeps_the_source_with_its_error() -> None:
    first = reading(1000.0, process(1000.0, {ROOT: route(10)}))
    last = reading(1010.0, process(1010.0, {ROOT: route(30)}))
    log = log_of(first, last)
    failed = last.failed("unreachable (connection refused); retrying")
    log.add(failed)
    [figures] = log.figures([failed], SIXTY_S)
    assert figures.error == failed.error and figures.routes[0].requests == 20


def test_a_process_first_read_late_adds_nothing_to_the_timeline_step() -> None:
    first = reading(1000.0, process(1000.0, {ROOT: route(10)}, key="1"))
    later = reading(
        1001.0,
        process(1001.0, {ROOT: route(12)}, key="1"),
        process(1001.0, {ROOT: route(5000)}, key="2", started=100.0),  # up for long, unread till now
        process(1001.0, {ROOT: route(3)}, key="3", started=1000.5),  # started in the step
    )
    [figures] = log_of(first, later).figures([later], SIXTY_S)
    assert figures.timelines["asgi"].rate_by_status["2xx"] == (5.0,)
