"""``/metrics`` under ASGI, never holding the event loop for long.

The rest of the registry (other collectors; under multiprocess mode, the merge of the workers'
files) is rendered in a thread. gatewatch's own families are rendered on the loop, a bounded
step at a time (:meth:`gatewatch.export.prometheus._scrape.Scrape.own`), each step's chunk sent
as it is made, with the loop free to run other callbacks between two steps: a thread would not
free the loop of that work (the loop waits for the GIL up to a switch interval per callback).
The steps are gatewatch's work, never the app's loop blocks: a step that lasted long enough
to be seen claims the loop watch's outstanding ping (:func:`gatewatch.asgi._loop_watch.claim_stack`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import copy_context
from functools import partial
from time import perf_counter
from typing import Any

from prometheus_client.registry import CollectorRegistry

from gatewatch.asgi._loop_watch import MIN_CHECK_INTERVAL, claim_stack
from gatewatch.export.prometheus._scrape import Families, Scrape, header_lookup
from gatewatch.types import ASGIApp, Receive, Scope, Send


def scrape_asgi_app(registry: CollectorRegistry) -> ASGIApp:
    """An ASGI app answering Prometheus scrapes of ``registry``."""
    families: Families = Families()

    async def metrics(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"gatewatch's /metrics serves HTTP only, not {scope['type']!r}")
        header = header_lookup(scope.get("headers") or [])
        scrape = Scrape(
            registry,
            families,
            accept=header(b"accept"),
            accept_encoding=header(b"accept-encoding"),
            query=(scope.get("query_string") or b"").decode("latin-1"),
        )
        message = await receive()
        if message.get("type") != "http.request":
            return
        in_thread, pause = _concurrency()
        others = await in_thread(copy_context().run, scrape.others)
        headers = [(name.encode(), value.encode()) for name, value in scrape.headers]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if others:
            await send({"type": "http.response.body", "body": others, "more_body": True})
        steps = scrape.own()
        while True:
            started = perf_counter()
            chunk = next(steps, None)
            ended = perf_counter()
            if ended - started >= MIN_CHECK_INTERVAL:
                # Long enough for the watchdog to have read the stack: gatewatch's, not the
                # app's. A short step claims nothing, so that a block of the app's right
                # before it is still reported.
                claim_stack(started, ended)
            if chunk is None:
                break
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            # Whatever else is ready runs before the next step.
            await pause()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return metrics


def _concurrency() -> tuple[Callable[..., Awaitable[Any]], Callable[[], Awaitable[None]]]:
    """Running a function in a thread, and letting the loop run, under asyncio or trio (the
    other loop ASGI servers run on)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        import trio

        return trio.to_thread.run_sync, partial(trio.sleep, 0)
    return partial(loop.run_in_executor, None), partial(asyncio.sleep, 0)
