"""The per-request path's economies keep every number: batched histograms, one measurement
shared by every sink, and per-request work only for what is on."""

from __future__ import annotations

import asyncio
import random
from bisect import bisect_left
from collections import deque

from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI
from gatewatch import _measure as m
from gatewatch._batches import take_all
from gatewatch._histogram import add_values, new_series
from gatewatch.monitor import Monitor, Sink
from gatewatch.record import RequestRecord, current_record
from gatewatch.types import Receive, Scope, Send
from tests.support.asgi_driver import Exchange, http_scope, serve


def test_a_batch_is_counted_as_one_observation_at_a_time() -> None:
    chooser = random.Random(7)
    choices = [0, 1, 2, 0.001, 0.5, 3.0, 100.0, float("inf")]
    for _ in range(2000):
        bounds = tuple(sorted({chooser.choice([0.0, 0.001, 0.25, 0.5, 1.0, 2.0, 5.0]) for _ in range(6)}))
        bounds = bounds[: chooser.randint(0, len(bounds))]
        values = [
            chooser.choice([*choices, chooser.random() * 12, chooser.randint(0, 12)])
            for _ in range(chooser.randint(0, 70))
        ]
        batched, one_by_one = new_series(bounds), new_series(bounds)
        add_values(batched, bounds, tuple(values))
        for value in values:
            one_by_one[bisect_left(bounds, value)] += 1
            one_by_one[-1] += value
        assert batched == one_by_one, (bounds, values)


def test_take_all_takes_what_is_there() -> None:
    pending = deque(range(5))
    assert take_all(pending) == [0, 1, 2, 3, 4]
    assert not pending
    assert take_all(pending) == []


class Measuring(Sink):
    def __init__(self, threads: int | None, *, then_move_the_end: bool = False) -> None:
        self.threads = threads
        self.then_move_the_end = then_move_the_end
        self.measured: list[m.RequestMeasurements] = []

    def request_finished(self, record: RequestRecord) -> None:
        self.measured.append(m.measure_request(record, self.threads))
        if self.then_move_the_end:
            # A finished record no longer changes; if it did, a sink measuring it again would see it.
            record.end = record.start + 60


def test_sinks_share_one_measurement_of_a_record() -> None:
    first, second = Measuring(None, then_move_the_end=True), Measuring(None)
    other_threads = Measuring(1)
    monitor = Monitor(sinks=[first, second, other_threads])
    record = monitor.start("wsgi", "GET", "/")
    record.status = 200
    monitor.finish(record)
    # The second sink is handed the first's measurement, not a new one (which would see the
    # moved end). Compiled, the measurement is a native tuple, boxed anew on each return: the
    # sinks hold equal tuples, not one object, on that build.
    assert first.measured[0] == second.measured[0]
    assert (first.measured[0][1][0] or 0) < 60
    # Measured for other worker threads (a saturated request), it is measured again.
    assert (other_threads.measured[0][1][0] or 0) >= 60
    assert other_threads.measured[0][2] is not None
    assert first.measured[0][2] is None
    assert record.measured == other_threads.measured[0]
    record.end = record.start + 120
    assert m.measure_request(record, 1) == other_threads.measured[0]


def test_the_coroutine_is_kept_only_for_a_live_view() -> None:
    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        record = current_record.get()
        assert record is not None
        seen.append(record.coroutine)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    for live_path, kept in ((None, False), ("/_gatewatch/live.json", True)):
        seen.clear()
        middleware = GatewatchASGI(app, registry=CollectorRegistry(), live_path=live_path)
        assert middleware.monitor.shows_in_flight is kept
        exchange = asyncio.run(serve(middleware, http_scope("/"), Exchange()))
        assert exchange.status == 200
        assert (seen[0] is not None) is kept
