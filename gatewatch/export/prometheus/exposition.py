"""Serve ``/metrics`` with prometheus-client's own exposition (content negotiation,
OpenMetrics when the scraper asks for it, gzip), multiprocess-aware."""

from __future__ import annotations

from prometheus_client import make_asgi_app, make_wsgi_app
from prometheus_client.registry import REGISTRY, CollectorRegistry

from gatewatch._multiprocess_dir import multiprocess_enabled
from gatewatch.types import ASGIApp, WSGIApp


def scrape_registry(registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """The registry a scrape should read: under multiprocess mode, a fresh one that
    merges every worker's files (the live gauges of running workers only); otherwise
    ``registry`` (default: the global one)."""
    if multiprocess_enabled():
        from gatewatch.export.prometheus._worker_files import WorkerFilesCollector

        merged = CollectorRegistry()
        WorkerFilesCollector(merged)
        return merged
    return REGISTRY if registry is None else registry


def metrics_asgi_app(registry: CollectorRegistry | None = None) -> ASGIApp:
    """An ASGI app answering Prometheus scrapes."""
    app: ASGIApp = make_asgi_app(scrape_registry(registry))
    return app


def metrics_wsgi_app(registry: CollectorRegistry | None = None) -> WSGIApp:
    """A WSGI app answering Prometheus scrapes."""
    app: WSGIApp = make_wsgi_app(scrape_registry(registry))
    return app
