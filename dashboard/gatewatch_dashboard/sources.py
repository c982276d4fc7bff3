"""Where the dashboard's numbers come from: a live endpoint, the local snapshot directory, a
``/metrics`` page, a Prometheus server, or (tests, screenshots) recorded live views.

Every source's :meth:`Source.read` returns a :class:`~gatewatch_dashboard.model.Reading` and
never raises: a source that cannot be reached, or answers something that is not what it should
be, gives the last good reading with ``error`` set, and is asked again at the next poll.
The live view is read only through :func:`gatewatch.export.live.schema.parse_live_view`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol
from urllib.parse import urlsplit

from gatewatch.export.live.local_dir import mark_read, read_dir
from gatewatch.export.live.schema import parse_live_view
from gatewatch_dashboard.http_source import LIVE_PATH, HTTPSource
from gatewatch_dashboard.live_reading import live_reading
from gatewatch_dashboard.model import Reading


class Source(Protocol):
    name: str

    async def read(self) -> Reading: ...

    async def close(self) -> None: ...


class LiveSource(HTTPSource):
    """A live endpoint (``/_gatewatch/live.json``): every tab."""

    kind = "live"

    async def _fetch(self) -> Reading:
        response = await self._get(self.url)
        return live_reading(self.name, parse_live_view(response.content))


class DirectorySource:
    """A directory of snapshot files (:mod:`gatewatch.export.live.local_dir`): the live view of the
    processes writing there, read without HTTP, as their user only can. Every tab."""

    kind = "live"

    def __init__(self, path: str, *, name: str | None = None) -> None:
        self.path = path
        self.name = name or "local " + (os.path.basename(path.rstrip(os.sep)) or path)
        # Its writers rewrite it at the polling pace only while someone reads it: say so now.
        mark_read(path)
        self._last = Reading(source=self.name, kind="live", error="waiting for the first reading")
        self.polls = 0

    async def read(self) -> Reading:
        self.polls += 1
        try:
            # A few small files, read off the UI's loop.
            view = await asyncio.to_thread(read_dir, self.path)
            if not view["processes"]:
                raise ValueError(f"no running process writes into {self.path}")
            reading = live_reading(self.name, view)
        except (OSError, ValueError) as exc:
            self._last = replace(self._last.failed(f"{exc}; retrying"), polls=self.polls)
            return self._last
        self._last = replace(reading, polls=self.polls)
        return self._last

    async def close(self) -> None:
        return None


class RecordedSource:
    """Recorded live views (bytes or decoded JSON), one per read, the last one repeated: a
    fixed data source for tests and screenshots. A document that does not parse is a failed
    read, as from an endpoint."""

    kind = "live"

    def __init__(self, name: str, documents: Sequence[object]) -> None:
        self.name = name
        self._documents = list(documents)
        self._index = 0
        self._last = Reading(source=name, kind="live", error="waiting for the first answer")

    async def read(self) -> Reading:
        document = self._documents[min(self._index, len(self._documents) - 1)]
        self._index += 1
        try:
            self._last = replace(live_reading(self.name, parse_live_view(document)), polls=self._index)
        except ValueError as exc:
            self._last = replace(self._last.failed(f"{exc}; retrying"), polls=self._index)
        return self._last

    async def close(self) -> None:
        return None


def resolved(url: str) -> tuple[str, str]:
    """What a URL on the command line is read as: ``("metrics", url)`` when its path ends in
    ``/metrics``, else ``("live", url)`` with a bare ``http://HOST:PORT`` given the live path."""
    path = urlsplit(url).path
    if path.rstrip("/").endswith("/metrics"):
        return "metrics", url
    if path in ("", "/"):
        return "live", url.rstrip("/") + LIVE_PATH
    return "live", url


def source_for(url: str, *, token: str | None = None) -> Source:
    """A live endpoint, or a ``/metrics`` page when the URL's path ends in ``/metrics``."""
    from gatewatch_dashboard.metrics_source import MetricsSource

    kind, url = resolved(url)
    if kind == "metrics":
        return MetricsSource(url, token=token)
    return LiveSource(url, token=token)
