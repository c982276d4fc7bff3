"""The live view is joined from parts encoded once (gatewatch.export.live._fragments): what a
snapshot shows after many polls is what it would show built whole, and a poll encodes only
what changed since the last one."""

from __future__ import annotations

import json
import time
from typing import Any

from gatewatch.export.live import _fragments
from gatewatch.export.live._seconds import SECONDS_PER_CHUNK
from gatewatch.export.live.state import LAG_SAMPLES, RECENT_REQUESTS, LiveState
from gatewatch.monitor import Monitor


def finish(monitor: Monitor, route: str, *, end: float | None = None) -> None:
    record = monitor.start("asgi", "GET", route)
    record.route = route
    record.status = 200
    record.response_ended()
    monitor.leave_in_flight(record)
    monitor.finish(record)
    if end is not None:
        # As if it had finished then: its second's totals change after that second was shown.
        record.start, record.end = end - 0.001, end


def state_and_monitor() -> tuple[LiveState, Monitor]:
    monitor = Monitor()
    state = LiveState(monitor)
    monitor.add_sink(state)
    return state, monitor


def snapshot(state: LiveState) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(state.snapshot_json())
    return parsed


def test_rings_across_polls_hold_the_newest_in_order() -> None:
    state, monitor = state_and_monitor()
    shown = []
    for poll in range(3):
        for index in range(RECENT_REQUESTS // 2 + 7):
            finish(monitor, f"/p{poll}/{index}")
            shown.append(f"/p{poll}/{index}")
        for index in range(LAG_SAMPLES // 2 + 3):
            state.add_lag_sample(poll + index / 10_000, at=float(poll * 10_000 + index))
        view = snapshot(state)
        assert [r["route_label"] for r in view["recent"]] == shown[-RECENT_REQUESTS:]
        lags = [(s["at"], s["lag"]) for s in view["loop_lag"]]
        expected = [
            (float(p * 10_000 + i), p + i / 10_000)
            for p in range(poll + 1)
            for i in range(LAG_SAMPLES // 2 + 3)
        ]
        assert lags == expected[-LAG_SAMPLES:]


def test_a_second_shown_then_changed_is_shown_changed() -> None:
    state, monitor = state_and_monitor()
    finish(monitor, "/a", end=time.perf_counter() - 30)
    first = {e["second"]: e["requests"] for e in snapshot(state)["per_second"]}
    assert sum(first.values()) == 1
    finish(monitor, "/b", end=time.perf_counter() - 30)
    second = {e["second"]: e["requests"] for e in snapshot(state)["per_second"]}
    assert sum(second.values()) == 2 and set(second) == set(first), (first, second)


def test_a_poll_encodes_only_what_is_new(monkeypatch: Any) -> None:
    state, monitor = state_and_monitor()
    for index in range(50):
        finish(monitor, f"/r/{index}")
    for index in range(100):
        state.add_lag_sample(0.001, at=float(index))
    snapshot(state)
    encoded: list[object] = []
    real = _fragments.encode

    def counting(value: object) -> bytes:
        encoded.append(value)
        return real(value)

    monkeypatch.setattr(_fragments, "encode", counting)
    finish(monitor, "/new")
    state.add_lag_sample(0.002, at=1000.0)
    view = snapshot(state)
    # One finished request, one lag sample, and the chunk of seconds the new request is in.
    described = [value for value in encoded if isinstance(value, dict)]
    assert sum(1 for value in described if "route_label" in value) == 1
    assert sum(1 for value in described if "lag" in value) == 1
    assert sum(1 for value in described if "second" in value) <= SECONDS_PER_CHUNK
    assert view["recent"][-1]["route_label"] == "/new" and view["loop_lag"][-1]["lag"] == 0.002
