"""Serve ``/metrics``: prometheus-client's content negotiation (OpenMetrics when the scraper
asks for it, gzip), gatewatch's own families rendered from its tables
(:mod:`gatewatch.export.prometheus._scrape`), multiprocess-aware."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.registry import REGISTRY, CollectorRegistry

from gatewatch._multiprocess_dir import multiprocess_enabled
from gatewatch.export.prometheus._scrape import Families, Scrape, render_all
from gatewatch.export.prometheus._scrape_asgi import scrape_asgi_app

# Imported with the exposition rather than at a worker's first scrape, which would then hold
# its event loop for the imports (tens of milliseconds).
from gatewatch.export.prometheus._worker_files import WorkerFilesCollector
from gatewatch.types import ASGIApp, Environ, StartResponse, WSGIApp


def scrape_registry(registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """The registry a scrape should read: under multiprocess mode, a fresh one that
    merges every worker's files (the live gauges of running workers only); otherwise
    ``registry`` (default: the global one)."""
    if multiprocess_enabled():
        # The files' collector names no metric in advance: a name[] filter still asks it.
        merged = CollectorRegistry(support_collectors_without_names=True)
        WorkerFilesCollector(merged)
        return merged
    return REGISTRY if registry is None else registry


def metrics_asgi_app(registry: CollectorRegistry | None = None) -> ASGIApp:
    """An ASGI app answering Prometheus scrapes; it holds the event loop only a bounded step at
    a time (:mod:`gatewatch.export.prometheus._scrape_asgi`)."""
    return scrape_asgi_app(scrape_registry(registry))


def metrics_wsgi_app(registry: CollectorRegistry | None = None) -> WSGIApp:
    """A WSGI app answering Prometheus scrapes (methods as prometheus-client's answers them)."""
    scraped = scrape_registry(registry)
    families: Families = Families()

    def metrics(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        allow = [("Allow", "OPTIONS,GET")]
        if method == "OPTIONS":
            start_response("200 OK", allow)
            return [b""]
        if method != "GET":
            start_response("405 Method Not Allowed", allow)
            return [f"# HTTP 405 Method Not Allowed: {method}; use OPTIONS or GET\n".encode()]
        if environ.get("PATH_INFO") == "/favicon.ico":
            start_response("200 OK", [])
            return [b""]
        scrape = Scrape(
            scraped,
            families,
            accept=environ.get("HTTP_ACCEPT", ""),
            accept_encoding=environ.get("HTTP_ACCEPT_ENCODING", ""),
            query=environ.get("QUERY_STRING", ""),
        )
        body = render_all(scrape)
        start_response("200 OK", scrape.headers)
        return [body]

    return metrics
