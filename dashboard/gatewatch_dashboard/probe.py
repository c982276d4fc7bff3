"""``gatewatch top``'s first look at its sources, before the UI opens.

A URL that is no URL, a port nobody listens on or a page that is not gatewatch's would open the
whole UI and say "waiting for the first answer" forever; each is one line on stderr instead
(what is wrong, and what to do), and ``gatewatch top`` exits 2. Every source is asked once, all
together, within :data:`PROBE_SECONDS`; ``--wait`` skips the asking (the UI then shows a source
that does not answer as such and retries it, as it does once running).

Each check returns ``None`` (fine) or the problem, without the name of the source: the caller
puts ``gatewatch top: <source>: `` before it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from gatewatch.export.live.local_dir import read_dir
from gatewatch.export.live.schema import parse_live_view
from gatewatch.queries import aggregate, series
from gatewatch_dashboard._literal import plain
from gatewatch_dashboard.http_source import said
from gatewatch_dashboard.sources import resolved

# With Python's start and the imports (a second, more on a loaded machine: 1.2 s at a load
# average of 11 on 2 cores), ``gatewatch top`` exits within 5 s.
PROBE_SECONDS = 3.0
KEEP_TRYING = "--wait keeps trying"
# Every series gatewatch exposes is named in this namespace (the catalogue checks it).
NAMESPACE = "gatewatch_"
EXAMPLE = "http://127.0.0.1:8000 (a live endpoint, with --token) or http://127.0.0.1:8000/metrics"

Kind = Literal["live", "metrics", "prometheus", "directory"]


@dataclass(frozen=True)
class Check:
    """One source as given on the command line, and where it is asked."""

    given: str  # as typed: what the line names
    kind: Kind
    where: str  # the URL asked (the live path added) or the directory


def url_problem(url: str) -> str | None:
    """What makes ``url`` no URL ``gatewatch top`` can read, or None. Never asks the network."""
    if "://" not in url:
        if os.path.isdir(url):
            return "is a directory, not a URL: pass it with --dir"
        host = url.split("/", 1)[0]
        if ":" in host or "." in host or host == "localhost":
            return f"not a URL: add http:// (http://{url})"
        return f"not a URL: give one like {EXAMPLE}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"not an http:// or https:// URL: give one like {EXAMPLE}"
    try:
        parts.port  # noqa: B018 - it raises on a port that is no number or out of range
    except ValueError:
        return "its port is not a number from 1 to 65535"
    if not parts.hostname:
        return f"has no host: give one like {EXAMPLE}"
    return None


def checks_for(urls: Sequence[str], directories: Sequence[str], prometheus: Sequence[str]) -> list[Check]:
    checks = []
    for url in urls:
        kind, where = resolved(url)
        checks.append(Check(url, "metrics" if kind == "metrics" else "live", where))
    checks += [Check(path, "directory", path) for path in directories]
    checks += [Check(url, "prometheus", url.rstrip("/")) for url in prometheus]
    return checks


def problems(checks: Sequence[Check], *, token: str | None, seconds: float = PROBE_SECONDS) -> list[str]:
    """``gatewatch top: SOURCE: PROBLEM`` for every source that does not answer as it should,
    all asked at once and bounded by ``seconds`` in all."""
    if not checks:
        return []
    found = asyncio.run(_ask_all(checks, token, seconds))
    return [line(check.given, problem) for check, problem in zip(checks, found, strict=True) if problem]


def bad_urls(urls: Sequence[str]) -> list[str]:
    """A line for each of ``urls`` that is no URL: it can never answer, ``--wait`` or not."""
    return [line(url, problem) for url in urls if (problem := url_problem(url)) is not None]


def line(given: str, problem: str) -> str:
    # The source as typed and what its server said are data: their controls never reach the terminal.
    return plain(f"gatewatch top: {given}: {problem}", limit=None)


async def _ask_all(checks: Sequence[Check], token: str | None, seconds: float) -> list[str | None]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=seconds) as client:
        tasks = [asyncio.create_task(_ask(check, client, headers)) for check in checks]
        await asyncio.wait(tasks, timeout=seconds)
        results: list[str | None] = []
        for task in tasks:
            if not task.done():
                task.cancel()
                results.append(_silent(seconds))
            elif task.exception() is not None:
                # Whatever a strange answer raised, it is said as that source's line.
                results.append(f"could not be read: {_short(task.exception())}")
            else:
                results.append(task.result())
        await asyncio.gather(*tasks, return_exceptions=True)
    return results


async def _ask(check: Check, client: httpx.AsyncClient, headers: dict[str, str]) -> str | None:
    if check.kind == "directory":
        return await asyncio.to_thread(_directory_problem, check.where)
    problem = url_problem(check.where)
    if problem is not None:
        return problem
    url, params = check.where, None
    if check.kind == "prometheus":
        # Any gatewatch process exports its info series: none means nothing of gatewatch is scraped.
        url, params = url + "/api/v1/query", {"query": aggregate("count", "", series("info"))}
    try:
        response = await client.get(url, params=params, headers=headers if check.kind != "prometheus" else {})
    except httpx.ConnectError as exc:
        if _refused(exc):
            return f"nothing listens there (connection refused): is the server running? ({KEEP_TRYING})"
        return f"cannot connect ({_short(exc)}; {KEEP_TRYING})"
    except httpx.TimeoutException:
        return _silent(client.timeout.read or PROBE_SECONDS)
    except httpx.HTTPError as exc:
        return f"did not answer HTTP ({_short(exc)})"
    if check.kind == "live":
        return _live_problem(check.where, response)
    if check.kind == "metrics":
        return _metrics_problem(response)
    return _prometheus_problem(response)


def _live_problem(url: str, response: httpx.Response) -> str | None:
    status = response.status_code
    if status == 401:
        if "Authorization" in response.request.headers:
            return "answered 401 (unauthorized): it refused the token sent: check --token (its live_token)"
        return (
            "answered 401 (unauthorized): pass the server's live_token with --token (or GATEWATCH_LIVE_TOKEN)"
        )
    if status == 403:
        return (
            "answered 403: its live view over HTTP is off (no live_token set on the server): set one "
            "there and pass it with --token, or on that host run gatewatch top with no URL"
        )
    if status == 404:
        return (
            f"answered 404: no gatewatch live view at {urlsplit(url).path}: is the app wrapped with "
            "gatewatch (and its live_path this one)? A URL ending in /metrics is scraped instead"
        )
    if status != 200:
        return f"answered HTTP {status}{said(response)}"
    try:
        parse_live_view(response.content)
    except ValueError as exc:
        media = response.headers.get("content-type", "").split(";")[0].strip() or "a page"
        detail = (
            f" ({_short(str(exc).removeprefix('not a gatewatch live view: '))})" if "json" in media else ""
        )
        return (
            f"answered {media}, not gatewatch's live view{detail}: is the app wrapped with gatewatch? "
            "(a URL ending in /metrics is scraped instead)"
        )
    return None


def _metrics_problem(response: httpx.Response) -> str | None:
    if response.status_code != 200:
        return f"answered HTTP {response.status_code}: not a /metrics page"
    try:
        names = [family.name for family in text_string_to_metric_families(response.text)]
    except (ValueError, IndexError, TypeError) as exc:
        return f"answered, but not a Prometheus /metrics page ({_short(exc)})"
    if not any(name.startswith(NAMESPACE) for name in names):
        return (
            "a /metrics page without gatewatch's series: is this app wrapped with gatewatch? "
            f"(a multiprocess server shows them after its first request; {KEEP_TRYING})"
        )
    return None


def _prometheus_problem(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
        return f"answered HTTP {response.status_code}, not as Prometheus's query API (/api/v1/query) would"
    if body["status"] != "success":
        return f"Prometheus refused the query: {_short(body.get('error', ''))}"
    data = body.get("data")
    if not isinstance(data, dict) or not data.get("result"):
        return (
            "Prometheus holds no gatewatch series now: does it scrape an app's /metrics "
            f"(a target shows after its first scrape)? ({KEEP_TRYING})"
        )
    return None


def _directory_problem(path: str) -> str | None:
    try:
        view = read_dir(path)
    except (OSError, ValueError) as exc:
        return _short(str(exc).removeprefix(f"{path}: "))
    if not view["processes"]:
        return f"no running process writes its live view there (a server does after a request; {KEEP_TRYING})"
    return None


def _silent(seconds: float) -> str:
    return f"no answer within {seconds:g} s: is it busy, or no HTTP server? ({KEEP_TRYING})"


def _refused(exc: BaseException) -> bool:
    # httpx says "All connection attempts failed"; the refusal is down its chain of causes.
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _short(value: object, limit: int = 120) -> str:
    """A line of what a server or an exception said: data, cut to ``limit``."""
    text = " ".join(str(value).split()) or type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
