"""Read a ``/metrics`` scrape back into a few numbers a person can compare.

Used by ``gatewatch demo`` and by the tests. It parses with prometheus-client's own
parser and estimates quantiles from histogram buckets the way PromQL's
``histogram_quantile`` does (linear interpolation inside the bucket).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gatewatch import catalogue as c

# Exposed names (counters with _total, info metrics with _info), from the catalogue.
_DURATION = c.metric("duration").name
_CONCURRENCY = c.metric("concurrency").name
_OFFLOAD_QUEUE = c.metric("offload_queue").name
_EXCEPTIONS = c.metric("exceptions").name
_RESPONSE_BYTES = c.metric("response_bytes").name
_DISCONNECTS = c.metric("disconnects").name
_THREAD_HOPS = c.metric("thread_hops").name
_ROUTE_VIEW = c.metric("route_view").name
# The per-route totals, there whatever the series preset (the histograms of blocking, CPU and
# offload are per route only with series="full").
_ROUTE_BLOCKING = c.metric("route_blocking").name
_ROUTE_CPU = c.metric("route_cpu").name
_ROUTE_CPU_SAMPLES = c.metric("route_cpu_samples").name
_ROUTE_OFFLOAD = c.metric("route_offload").name


def parse(text: str) -> list[Sample]:
    """Every sample of a text exposition, flattened out of its families."""
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def matching(samples: Iterable[Sample], name: str, **labels: str) -> Iterator[Sample]:
    """Samples named exactly ``name`` whose labels include ``labels``."""
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            yield sample


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(sample.value for sample in matching(samples, name, **labels))


@dataclass(frozen=True)
class HistogramData:
    """One histogram, summed over every label set that matched: cumulative buckets by bound."""

    buckets: tuple[tuple[float, float], ...]  # (le, cumulative count), ascending, ending at +Inf
    sum: float
    count: float

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        return histogram_quantile(q, self.buckets)


def histogram(samples: Iterable[Sample], name: str, **labels: str) -> HistogramData:
    """The histogram family ``name`` (base name, without ``_bucket``), summed by ``le``
    over all label sets that include ``labels``, like ``sum by (le) (...)`` in PromQL."""
    samples = list(samples)
    by_bound: dict[float, float] = {}
    for sample in matching(samples, name + "_bucket", **labels):
        bound = float(sample.labels["le"])
        by_bound[bound] = by_bound.get(bound, 0.0) + sample.value
    return HistogramData(
        buckets=tuple(sorted(by_bound.items())),
        sum=total(samples, name + "_sum", **labels),
        count=total(samples, name + "_count", **labels),
    )


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """PromQL's ``histogram_quantile`` over ``(le, cumulative count)`` pairs.

    None when there are no observations. A quantile that falls in the ``+Inf``
    bucket is reported as the highest finite bound, as Prometheus does.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within [0, 1], got {q}")
    ordered = sorted(buckets)
    if not ordered or not math.isinf(ordered[-1][0]):
        return None
    observed = ordered[-1][1]
    if observed <= 0:
        return None
    rank = q * observed
    lower_bound, lower_count = 0.0, 0.0
    for index, (bound, count) in enumerate(ordered):
        if count >= rank:
            if math.isinf(bound):
                return ordered[index - 1][0] if index > 0 else None
            if index == 0 and bound <= 0:
                return bound
            in_bucket = count - lower_count
            if in_bucket <= 0:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / in_bucket
        lower_bound, lower_count = bound, count
    return None


@dataclass(frozen=True)
class InterfaceSummary:
    """What one interface's scrape says about all its HTTP traffic."""

    interface: str
    requests: float
    server_errors: float  # responses with a 5xx status
    exceptions: float
    duration_p50: float | None
    duration_p95: float | None
    blocking_total: float
    cpu_total: float
    cpu_count: float
    concurrency_mean: float | None
    bytes_out: float
    disconnects: float
    # Thread hand-offs exist only where they are tracked (Django); the count is the
    # number of requests tracked, which is what hops are divided by.
    offload_total: float = 0.0
    offload_queue_total: float = 0.0
    offload_count: float = 0.0
    thread_hops: float = 0.0

    @property
    def blocking_per_request(self) -> float | None:
        return self.blocking_total / self.requests if self.requests else None

    @property
    def cpu_per_request(self) -> float | None:
        return self.cpu_total / self.cpu_count if self.cpu_count else None

    @property
    def offload_per_request(self) -> float | None:
        return self.offload_total / self.offload_count if self.offload_count else None

    @property
    def offload_queue_per_request(self) -> float | None:
        return self.offload_queue_total / self.offload_count if self.offload_count else None

    @property
    def hops_per_request(self) -> float | None:
        return self.thread_hops / self.offload_count if self.offload_count else None


def _samples(text_or_samples: str | Iterable[Sample], exclude_routes: Collection[str]) -> list[Sample]:
    samples = parse(text_or_samples) if isinstance(text_or_samples, str) else list(text_or_samples)
    if not exclude_routes:
        return samples
    return [sample for sample in samples if sample.labels.get("route") not in exclude_routes]


def summarize(
    text_or_samples: str | Iterable[Sample], interface: str, *, exclude_routes: Collection[str] = ()
) -> InterfaceSummary:
    """The :class:`InterfaceSummary` of ``interface`` (``"asgi"`` or ``"wsgi"``) in a scrape,
    leaving out the samples of ``exclude_routes`` (metrics without a route label stay in)."""
    samples = _samples(text_or_samples, exclude_routes)
    duration = histogram(samples, _DURATION, interface=interface)
    server_errors = sum(
        sample.value
        for sample in matching(samples, _DURATION + "_count", interface=interface)
        if sample.labels.get("status", "").startswith("5")
    )
    concurrency = histogram(samples, _CONCURRENCY, interface=interface)
    return InterfaceSummary(
        interface=interface,
        requests=duration.count,
        server_errors=server_errors,
        exceptions=total(samples, _EXCEPTIONS, interface=interface),
        duration_p50=duration.quantile(0.5),
        duration_p95=duration.quantile(0.95),
        blocking_total=total(samples, _ROUTE_BLOCKING, interface=interface),
        cpu_total=total(samples, _ROUTE_CPU, interface=interface),
        cpu_count=total(samples, _ROUTE_CPU_SAMPLES, interface=interface),
        concurrency_mean=concurrency.mean,
        bytes_out=total(samples, _RESPONSE_BYTES, interface=interface),
        disconnects=total(samples, _DISCONNECTS, interface=interface),
        offload_total=total(samples, _ROUTE_OFFLOAD, interface=interface),
        offload_queue_total=total(samples, _OFFLOAD_QUEUE + "_sum", interface=interface),
        offload_count=_offloading_requests(samples, interface),
        thread_hops=total(samples, _THREAD_HOPS, interface=interface),
    )


@dataclass(frozen=True)
class RouteSummary:
    """Means per request for one route template of one interface."""

    route: str
    requests: float
    duration_mean: float | None
    blocking_mean: float | None
    cpu_mean: float | None
    # None where thread hand-offs are not tracked (anything but Django).
    offload_mean: float | None = None
    offload_queue_mean: float | None = None
    hops_mean: float | None = None
    # From gatewatch_route_view_info, where the framework names its views (Django).
    view: str | None = None
    view_kind: str | None = None  # "sync" or "async"


def route_summaries(
    text_or_samples: str | Iterable[Sample], interface: str, *, exclude_routes: Collection[str] = ()
) -> dict[str, RouteSummary]:
    """Per route template (all methods and statuses together), for ``interface``, without
    ``exclude_routes``."""
    samples = _samples(text_or_samples, exclude_routes)
    views = {
        sample.labels["route"]: sample.labels
        for sample in matching(samples, _ROUTE_VIEW, interface=interface)
        if "route" in sample.labels
    }
    routes = {
        sample.labels["route"]
        for sample in matching(samples, _DURATION + "_count", interface=interface)
        if "route" in sample.labels
    }
    out: dict[str, RouteSummary] = {}
    offloading = _offloading_routes(samples, interface)
    for route in sorted(routes):
        duration = histogram(samples, _DURATION, interface=interface, route=route)
        requests = duration.count
        offloaded = requests if route in offloading and requests else None

        def per_request(name: str, count: float | None = requests, route: str = route) -> float | None:
            # None where the series is not there (a scrape of another exporter, or no hand-offs).
            found = list(matching(samples, name, interface=interface, route=route))
            return sum(sample.value for sample in found) / count if found and count else None

        sampled = total(samples, _ROUTE_CPU_SAMPLES, interface=interface, route=route)
        # The route's own queue histogram exists with series="full" only.
        queue = histogram(samples, _OFFLOAD_QUEUE, interface=interface, route=route)
        view = views.get(route, {})
        out[route] = RouteSummary(
            route=route,
            requests=requests,
            duration_mean=duration.mean,
            blocking_mean=per_request(_ROUTE_BLOCKING),
            cpu_mean=per_request(_ROUTE_CPU, sampled),
            offload_mean=per_request(_ROUTE_OFFLOAD, offloaded),
            offload_queue_mean=queue.mean if offloaded else None,
            hops_mean=per_request(_THREAD_HOPS, offloaded),
            view=view.get("view"),
            view_kind=view.get("view_kind"),
        )
    return out


def _offloading_routes(samples: Iterable[Sample], interface: str) -> set[str]:
    """The routes whose hand-offs to threads are tracked (Django's: every request of theirs)."""
    return {sample.labels["route"] for sample in matching(samples, _ROUTE_OFFLOAD, interface=interface)}


def _offloading_requests(samples: list[Sample], interface: str) -> float:
    routes = _offloading_routes(samples, interface)
    return sum(
        sample.value
        for sample in matching(samples, _DURATION + "_count", interface=interface)
        if sample.labels.get("route") in routes
    )
