"""The recorded live views read every few seconds between the first and the later one: what a
dashboard polling the two servers for 30 s reads, so that its charts have a shape.

Between the two documents every count grows along its own curve (a few bursts, always
upwards, so the counters stay counters): the rates and percentiles the charts draw vary from
step to step. The documents in between keep the first one's in-flight lists and rings; the
last one is the later document itself.
"""

from __future__ import annotations

import json
import math
import zlib
from typing import Any

from tests.support.live_fixtures import asgi_later_view, asgi_view, wsgi_later_view, wsgi_view

STEPS = 6  # readings 5 s apart over the 30 s
# The keys that match entries of a list of objects between the two documents.
_KEYS = ("pid", "interface", "route", "status", "site", "outcome")


def _curve(path: str, x: float) -> float:
    """A monotone curve from (0, 0) to (1, 1), its bursts placed by ``path``."""
    phase = (zlib.crc32(path.encode()) % 628) / 100
    return x + 0.9 * (math.sin(4 * math.pi * x + phase) - math.sin(phase)) / (4 * math.pi)


def _between(first: Any, later: Any, x: float, path: str) -> Any:
    if isinstance(later, dict):
        before = first if isinstance(first, dict) else {}
        return {key: _between(before.get(key), value, x, f"{path}.{key}") for key, value in later.items()}
    if isinstance(later, list):
        if later and all(isinstance(item, dict) for item in later):
            earlier = {_key(item): item for item in first or [] if isinstance(item, dict)}
            return [_between(earlier.get(_key(item)), item, x, f"{path}[{_key(item)}]") for item in later]
        if isinstance(first, list) and len(first) == len(later) and all(_number(i) for i in later):
            return [
                _between(a, b, x, f"{path}[{n}]") for n, (a, b) in enumerate(zip(first, later, strict=True))
            ]
        return later if x >= 1 else (first if first is not None else later)
    if _number(later):
        start = first if _number(first) else 0
        value = start + (later - start) * _curve(path, x)
        return round(value) if isinstance(later, int) else value
    return later


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _key(item: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(item.get(key) for key in _KEYS)


def _timeline(first: dict[str, Any], later: dict[str, Any]) -> list[dict[str, Any]]:
    views = []
    for step in range(STEPS + 1):
        x = step / STEPS
        if step == STEPS:
            views.append(later)
            continue
        view = dict(first)
        view["time"] = first["time"] + (later["time"] - first["time"]) * x
        processes = []
        for process, process_later in zip(first["processes"], later["processes"], strict=True):
            moved = dict(process)
            moved["time"] = view["time"]
            moved["totals"] = _between(process["totals"], process_later["totals"], x, f"{process['pid']}")
            # The start of a process does not move with its counts.
            moved["totals"]["started"] = process["totals"]["started"]
            processes.append(moved)
        view["processes"] = processes
        views.append(view)
    return views


def asgi_timeline() -> list[dict[str, Any]]:
    return _timeline(asgi_view(), asgi_later_view())


def wsgi_timeline() -> list[dict[str, Any]]:
    return _timeline(wsgi_view(), wsgi_later_view())


def idle(view: dict[str, Any]) -> dict[str, Any]:
    """``view``'s servers as they are before their first request: the same processes, nothing
    in flight, nothing counted."""
    quiet: dict[str, Any] = json.loads(json.dumps(view))
    for process in quiet["processes"]:
        process["wsgi_workers"]["busy"] = 0
        for key in ("in_flight_counts", "in_flight", "recent", "per_second", "loop_lag", "loop_blocks"):
            process[key] = []
        process["in_flight_unlisted"] = 0
        process["websockets"].update(open=[], recent=[], active_by_route={}, unlisted=0)
        totals = process["totals"]
        for key in ("routes", "interfaces", "block_sites", "sessions"):
            totals[key] = []
        totals.update(lag_buckets=[0] * len(totals["lag_buckets"]), lag_sum=0.0, lag_count=0)
        totals["block_sites_unlisted"] = 0
    return quiet
