"""Differences of cumulative counters between two readings of one process, and their sums
over the processes of a source.

A counter that went down means the process restarted (or its series was reset): its increase
is then its new value, as Prometheus's ``increase`` takes it. A process whose ``started``
changed is a new process: everything it counted is new.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import TypeVar

from gatewatch_dashboard.counters import (
    InterfaceCounters,
    ProcessCounters,
    RouteCounters,
    SessionCounters,
    SiteCounters,
)

_Fieldwise = TypeVar("_Fieldwise", InterfaceCounters, SessionCounters)


def _less(now: float, before: float) -> float:
    return now - before if now >= before else now


def _minus(now: _Fieldwise, before: _Fieldwise | None) -> _Fieldwise:
    if before is None:
        return now
    return replace(now, **{f.name: _less(getattr(now, f.name), getattr(before, f.name)) for f in fields(now)})


def _plus(one: _Fieldwise, other: _Fieldwise) -> _Fieldwise:
    return replace(one, **{f.name: getattr(one, f.name) + getattr(other, f.name) for f in fields(one)})


def _route_minus(now: RouteCounters, before: RouteCounters | None) -> RouteCounters:
    if before is None or now.requests < before.requests or len(now.buckets) != len(before.buckets):
        return now
    return RouteCounters(
        requests=now.requests - before.requests,
        statuses={kind: _less(count, before.statuses.get(kind, 0.0)) for kind, count in now.statuses.items()},
        duration_sum=_less(now.duration_sum, before.duration_sum),
        buckets=tuple(_less(a, b) for a, b in zip(now.buckets, before.buckets, strict=True)),
        blocking_sum=_less(now.blocking_sum, before.blocking_sum),
        cpu_sum=_less(now.cpu_sum, before.cpu_sum),
        cpu_samples=_less(now.cpu_samples, before.cpu_samples),
        offload_sum=_less(now.offload_sum, before.offload_sum),
    )


def _site_minus(now: SiteCounters, before: SiteCounters | None) -> SiteCounters:
    if before is None or now.count < before.count:
        return now
    return replace(now, count=now.count - before.count, total=_less(now.total, before.total))


def restarted(now: ProcessCounters, before: ProcessCounters) -> bool:
    return now.started is not None and before.started is not None and now.started != before.started


def minus(now: ProcessCounters, before: ProcessCounters | None) -> ProcessCounters:
    """What ``now`` counted since ``before`` (everything, when there is no ``before`` or the
    process restarted in between)."""
    if before is None or restarted(now, before):
        return now
    lag_reset = now.lag_count < before.lag_count or len(now.lag_buckets) != len(before.lag_buckets)
    return replace(
        now,
        routes={key: _route_minus(value, before.routes.get(key)) for key, value in now.routes.items()},
        interfaces={key: _minus(value, before.interfaces.get(key)) for key, value in now.interfaces.items()},
        lag_buckets=now.lag_buckets
        if lag_reset
        else tuple(_less(a, b) for a, b in zip(now.lag_buckets, before.lag_buckets, strict=True)),
        lag_sum=now.lag_sum if lag_reset else _less(now.lag_sum, before.lag_sum),
        lag_count=now.lag_count if lag_reset else now.lag_count - before.lag_count,
        sites={key: _site_minus(value, before.sites.get(key)) for key, value in now.sites.items()},
        sessions={key: _minus(value, before.sessions.get(key)) for key, value in now.sessions.items()},
    )


def shared(now: ProcessCounters, before: ProcessCounters | None) -> ProcessCounters:
    """``now`` holding ``before``'s route objects where they did not change: readings kept for
    minutes then cost memory for the routes that moved only."""
    if before is None:
        return now
    routes = {key: before.routes.get(key, value) for key, value in now.routes.items()}
    for key, value in routes.items():
        if value is not now.routes[key] and value != now.routes[key]:
            routes[key] = now.routes[key]
    return replace(now, routes=routes)


Buckets = dict[float, float]  # upper bound (+Inf last) -> cumulative count


def _add_buckets(into: Buckets, bounds: tuple[float, ...], cumulative: tuple[float, ...]) -> None:
    if len(cumulative) != len(bounds) + 1:
        return
    for bound, count in zip((*bounds, math.inf), cumulative, strict=True):
        into[bound] = into.get(bound, 0.0) + count


@dataclass
class RouteSum:
    """One interface and route over every process of a source."""

    requests: float = 0.0
    statuses: dict[str, float] = field(default_factory=dict)
    duration_sum: float = 0.0
    buckets: Buckets = field(default_factory=dict)
    blocking_sum: float = 0.0
    cpu_sum: float = 0.0
    cpu_samples: float = 0.0
    offload_sum: float = 0.0

    def add(self, route: RouteCounters, bounds: tuple[float, ...]) -> None:
        self.requests += route.requests
        for kind, count in route.statuses.items():
            self.statuses[kind] = self.statuses.get(kind, 0.0) + count
        self.duration_sum += route.duration_sum
        _add_buckets(self.buckets, bounds, route.buckets)
        self.blocking_sum += route.blocking_sum
        self.cpu_sum += route.cpu_sum
        self.cpu_samples += route.cpu_samples
        self.offload_sum += route.offload_sum


@dataclass
class Sums:
    """Differences (or counters) of every process of one source, added together."""

    routes: dict[tuple[str, str], RouteSum] = field(default_factory=dict)
    interfaces: dict[str, InterfaceCounters] = field(default_factory=dict)
    lag: Buckets = field(default_factory=dict)
    sites: dict[tuple[str, str], SiteCounters] = field(default_factory=dict)
    sessions: dict[tuple[str, str], SessionCounters] = field(default_factory=dict)

    def add(self, counters: ProcessCounters) -> None:
        for key, route in counters.routes.items():
            self.routes.setdefault(key, RouteSum()).add(route, counters.duration_bounds)
        for name, sums in counters.interfaces.items():
            known = self.interfaces.get(name)
            self.interfaces[name] = sums if known is None else _plus(known, sums)
        _add_buckets(self.lag, counters.lag_bounds, counters.lag_buckets)
        for key, site in counters.sites.items():
            self.sites[key] = site if key not in self.sites else _site_plus(self.sites[key], site)
        for key, session in counters.sessions.items():
            known_session = self.sessions.get(key)
            self.sessions[key] = session if known_session is None else _plus(known_session, session)

    def interface(self, name: str) -> RouteSum:
        """Every route of one interface together."""
        total = RouteSum()
        for (interface, _), route in self.routes.items():
            if interface == name:
                total.requests += route.requests
                for kind, count in route.statuses.items():
                    total.statuses[kind] = total.statuses.get(kind, 0.0) + count
                total.duration_sum += route.duration_sum
                for bound, count in route.buckets.items():
                    total.buckets[bound] = total.buckets.get(bound, 0.0) + count
                total.blocking_sum += route.blocking_sum
        return total


def _site_plus(one: SiteCounters, other: SiteCounters) -> SiteCounters:
    latest = other if (other.last_at or 0.0) >= (one.last_at or 0.0) else one
    return replace(
        latest,
        count=one.count + other.count,
        total=one.total + other.total,
        worst=max(one.worst, other.worst),
        recent=tuple(sorted(one.recent + other.recent)),
    )


def summed(counters: list[ProcessCounters]) -> Sums:
    sums = Sums()
    for one in counters:
        sums.add(one)
    return sums
