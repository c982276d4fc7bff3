"""One ``/metrics`` scrape, served by the ASGI and WSGI apps alike.

prometheus-client chooses the format (its ``choose_encoder``: the Accept header) and renders
every collector of the registry but gatewatch's aggregators, which claim the scrape
(:mod:`gatewatch.export.prometheus._own_families`); their families are then rendered from
their tables (:mod:`gatewatch.export.prometheus._render`), a bounded number of series at a
time (:meth:`Scrape.own`: each step takes the aggregator's lock once, to copy at most
``batch`` series), so that an event loop can run between two steps. gzip, when the scraper
accepts it, compresses step by step too.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import Final
from urllib.parse import parse_qs
from weakref import WeakKeyDictionary

from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.openmetrics.exposition import UNDERSCORES
from prometheus_client.registry import CollectorRegistry, RestrictedRegistry

from gatewatch import catalogue as c
from gatewatch.export.prometheus._merge_scrape import FilesRead
from gatewatch.export.prometheus._own_families import rendering_own
from gatewatch.export.prometheus._render import OPENMETRICS, TEXT, Family
from gatewatch.export.prometheus.collector import PrometheusAggregator

# Lines rendered per step (their series copied under the lock at once): about a millisecond
# of CPU (docs/internals.md).
BATCH: Final = 1000
# And at most this many series: a series' first scrape builds its line prefixes (~15 us each).
MAX_SERIES: Final = 128
# zlib's level 1: most of level 6's (gzip's default) and 9's saving on this text, at a
# fraction of their CPU (docs/internals.md).
GZIP_LEVEL: Final = 1
_EOF: Final = "# EOF\n"

# An aggregator -> its families as rendered, by (slot, name escaping, label names).
Families = WeakKeyDictionary[PrometheusAggregator, dict[tuple[int, str, tuple[str, ...]], Family]]


class Scrape:
    """The answer to one scrape: its headers, then its body, chunk by chunk (:meth:`body`)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        families: Families,
        *,
        accept: str,
        accept_encoding: str,
        query: str,
        batch: int = BATCH,
    ) -> None:
        self._registry = registry
        self._families = families
        self._batch = batch
        self._encoder, content_type = choose_encoder(accept)
        self.format = OPENMETRICS if content_type.startswith("application/openmetrics-text") else TEXT
        self._escaping = _escaping(content_type)
        names = parse_qs(query).get("name[]")
        self._wanted = None if names is None else frozenset(names)
        self.headers = [("Content-Type", content_type)]
        self._compressor = None
        if gzip_accepted(accept_encoding):
            self.headers.append(("Content-Encoding", "gzip"))
            self._compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        self._aggregators: list[PrometheusAggregator] = []
        self._files: list[FilesRead] = []

    def others(self) -> bytes:
        """Every other collector's families, rendered by prometheus-client (encoded); notes the
        aggregators that claimed the scrape. Blocking: a thread's work under an event loop."""
        registry: CollectorRegistry | RestrictedRegistry = self._registry
        if self._wanted is not None:
            registry = self._registry.restricted_registry(self._wanted)
        with rendering_own() as claims:
            text = self._encoder(registry)
        self._aggregators = [found for found in claims if isinstance(found, PrometheusAggregator)]
        self._files = [found for found in claims if isinstance(found, FilesRead)]
        if self.format == OPENMETRICS and text.endswith(b"# EOF\n"):
            # It ends the whole body, after gatewatch's own families.
            text = text[: -len(_EOF)]
        return self.encode(text)

    def own(self) -> Iterator[bytes]:
        """The claiming aggregators' families, one encoded chunk per step (about ``batch``
        lines each), then the end of the body."""
        for aggregator in self._aggregators:
            for text in self._own_text(aggregator):
                yield self.encode(text.encode()) if text else b""
        for files in self._files:
            chunks = files.chunks(self.format, self._escaping, self._wanted, self._encoder, self._batch)
            for data in chunks:
                yield self.encode(data) if data else b""
        end = _EOF.encode() if self.format == OPENMETRICS else b""
        yield self.encode(end, last=True)

    def encode(self, data: bytes, *, last: bool = False) -> bytes:
        compressor = self._compressor
        if compressor is None:
            return data
        compressed = compressor.compress(data)
        return compressed + compressor.flush() if last else compressed

    def _own_text(self, aggregator: PrometheusAggregator) -> Iterator[str]:
        for _ in aggregator.begin_scrape():
            yield ""
        state: dict[int, list[tuple[tuple[str, ...], float]]] = {}
        for slot, labels, value in aggregator.state():
            if value is not None:
                state.setdefault(slot, []).append((labels, value))
        families = self._families.get(aggregator)
        if families is None:
            families = self._families[aggregator] = {}
        out: list[str] = []
        done = 0
        batch, wanted, exemplars = self._batch, self._wanted, self.format == OPENMETRICS
        for slot in aggregator.slots:
            names = aggregator.label_names(slot)
            key = (slot, self._escaping, names)
            family = families.get(key)
            if family is None:
                family = families[key] = Family.of_slot(slot, names, aggregator.bounds(slot), self._escaping)
            parts = (True, True, True) if wanted is None else tuple(n in wanted for n in family.sample_names)
            if not any(parts):
                continue
            every_labels, live = aggregator.series(slot)
            levels = state.get(slot, [])
            if not every_labels and not levels and (c.METRICS[slot].sparse or wanted is not None):
                continue
            out.append(family.headers[self.format])
            step = min(-(-batch // family.lines_per_series), MAX_SERIES)
            for start in range(0, len(every_labels), step):
                some = every_labels[start : start + step]
                totals, marks = aggregator.copy_totals(slot, some, live[start : start + step], exemplars)
                family.lines(out, some, totals, marks, parts)
                done += len(some) * family.lines_per_series
                if done >= batch:
                    yield "".join(out)
                    out, done = [], 0
            if levels:
                family.lines(out, [named for named, _ in levels], [[value] for _, value in levels])
        if out:
            yield "".join(out)


def _escaping(content_type: str) -> str:
    # choose_encoder names the escaping in the content type whenever it is not the default.
    for part in content_type.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "escaping":
            return value
    return UNDERSCORES


def render_all(scrape: Scrape) -> bytes:
    """The whole body at once (a WSGI worker's, or a thread's)."""
    return scrape.others() + b"".join(scrape.own())


def header_lookup(headers: list[tuple[bytes, bytes]]) -> Callable[[bytes], str]:
    """An ASGI request's header, every occurrence joined by commas, as prometheus-client does."""

    def value(name: bytes) -> str:
        return ",".join(v.decode("latin-1") for k, v in headers if k.lower() == name)

    return value
