"""What every source read over HTTP shares: its client, the token, a failed poll said in one line
and retried."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from urllib.parse import urlsplit

import httpx

from gatewatch_dashboard.model import Reading

TIMEOUT = 2.0
LIVE_PATH = "/_gatewatch/live.json"


def label_of(url: str) -> str:
    """How a source is named on screen: host:port, and the path when it is not the default."""
    parts = urlsplit(url)
    path = "" if parts.path in ("", LIVE_PATH) else parts.path
    return f"{parts.netloc}{path}" or url


def _problem(exc: BaseException) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "unreachable (connection refused)"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer (timed out)"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"answered HTTP {exc.response.status_code}{said(exc.response)}"
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:197] + "..."


def said(response: httpx.Response) -> str:
    """The one-line reason a refusing live endpoint gives (401: send the token; 403: none is
    set), as data: at most a line of it."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, str):
        return ""
    line = error.splitlines()[0] if error else ""
    return f": {line[:157]}..." if len(line) > 160 else (f": {line}" if line else "")


class HTTPSource(ABC):
    kind = "live"

    def __init__(
        self, url: str, *, client: httpx.AsyncClient | None = None, token: str | None = None
    ) -> None:
        self.url = url
        self.name = label_of(url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = client or httpx.AsyncClient(timeout=TIMEOUT, headers=headers)
        self._last = Reading(source=self.name, kind=self.kind, error="waiting for the first answer")
        self.polls = 0

    async def read(self) -> Reading:
        self.polls += 1
        try:
            reading = await self._fetch()
        except Exception as exc:  # noqa: BLE001 - whatever failed, the UI says so and retries
            self._last = replace(self._last.failed(f"{_problem(exc)}; retrying"), polls=self.polls)
            return self._last
        self._last = replace(reading, polls=self.polls)
        return self._last

    @abstractmethod
    async def _fetch(self) -> Reading:
        """One reading of this kind of endpoint (each source class says how)."""

    async def _get(self, url: str, **params: str) -> httpx.Response:
        response = await self._client.get(url, params=params or None)
        response.raise_for_status()
        return response

    async def close(self) -> None:
        await self._client.aclose()
