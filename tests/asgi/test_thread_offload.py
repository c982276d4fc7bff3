"""asgiref hand-offs per request: counted, timed once when nested, queue time seen."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import AsyncToSync, SyncToAsync, async_to_sync, sync_to_async
from prometheus_client import CollectorRegistry

from gatewatch import GatewatchASGI
from gatewatch.asgi import _offload as thread_offload
from gatewatch.record import RequestRecord, current_record
from tests.support.asgi_driver import Exchange, http_scope
from tests.support.scrape import label_values, value


@pytest.fixture(autouse=True)
def installed() -> Iterator[None]:
    thread_offload.install()
    yield
    thread_offload.uninstall()


def new_record() -> RequestRecord:
    return RequestRecord("asgi", "GET", "/", time.perf_counter())


def test_outside_a_request_nothing_is_recorded_and_results_pass_through() -> None:
    async def main() -> int:
        return await sync_to_async(lambda: 41 + 1)()

    assert asyncio.run(main()) == 42


def test_hops_and_wall_time_of_one_request() -> None:
    record = new_record()

    async def main() -> tuple[str, str]:
        current_record.set(record)
        first = await sync_to_async(lambda: threading.current_thread().name)()
        await sync_to_async(time.sleep)(0.03)
        return first, threading.current_thread().name

    worker, loop_thread = asyncio.run(main())
    assert worker != loop_thread
    assert record.thread_hops == 2
    assert record.offload is not None and 0.03 <= record.offload < 1.0
    assert record.offload_depth == 0


def test_nested_hand_offs_count_as_hops_but_their_time_once() -> None:
    record = new_record()

    async def inner() -> None:
        await sync_to_async(time.sleep)(0.02)

    def outer() -> None:
        time.sleep(0.02)
        async_to_sync(inner)()

    async def main() -> None:
        current_record.set(record)
        started = time.perf_counter()
        await sync_to_async(outer)()
        main.elapsed = time.perf_counter() - started  # type: ignore[attr-defined]

    asyncio.run(main())
    # sync_to_async, async_to_sync back to the loop, sync_to_async again.
    assert record.thread_hops == 3
    elapsed: float = main.elapsed  # type: ignore[attr-defined]
    assert record.offload is not None
    # Counted once: no more than the outer call took, though both slept.
    assert 0.04 <= record.offload <= elapsed


def test_queue_time_while_the_one_thread_is_busy() -> None:
    busy, waiting = new_record(), new_record()

    async def request(record: RequestRecord, delay: float) -> None:
        current_record.set(record)
        await asyncio.sleep(delay)
        # thread_sensitive (the default): one shared thread, so the second call queues.
        await sync_to_async(time.sleep)(0.3)

    async def main() -> None:
        await asyncio.gather(request(busy, 0.0), request(waiting, 0.01))

    asyncio.run(main())
    # The second waits most of the first one's 0.3 s for the thread; the first waits for nothing.
    # Half of the sleep on either side: a late start on a loaded machine shortens the wait by
    # tens of ms, while counting the sleep as queueing (or not seeing the queue) is 0.3 s off.
    assert busy.offload_queue < 0.15
    assert waiting.offload_queue >= 0.15
    assert waiting.offload is not None and waiting.offload >= waiting.offload_queue + 0.3


def test_exceptions_pass_through_and_are_still_timed() -> None:
    record = new_record()

    def fail() -> None:
        raise LookupError("from the thread")

    async def main() -> None:
        current_record.set(record)
        await sync_to_async(fail)()

    with pytest.raises(LookupError, match="from the thread"):
        asyncio.run(main())
    assert record.thread_hops == 1
    assert record.offload is not None and record.offload_depth == 0


def test_install_is_idempotent_and_uninstall_restores_asgiref() -> None:
    patched = SyncToAsync.__call__
    thread_offload.install()
    assert SyncToAsync.__call__ is patched
    thread_offload.uninstall()
    assert not thread_offload.installed()
    assert SyncToAsync.__call__ is not patched
    assert SyncToAsync.__call__.__module__ == "asgiref.sync"
    assert AsyncToSync.__call__.__module__ == "asgiref.sync"


def test_starlette_sync_endpoints_run_in_anyio_threads(registry: CollectorRegistry) -> None:
    """Starlette runs a sync endpoint through anyio.to_thread.run_sync: one hand-off, timed,
    with the wait for a thread when anyio's limiter is full."""
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    def sync_endpoint(request: Request) -> PlainTextResponse:
        time.sleep(0.3)
        return PlainTextResponse("sync")

    async def async_endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse("async")

    app = GatewatchASGI(
        Starlette(routes=[Route("/sync", sync_endpoint), Route("/async", async_endpoint)]),
        registry=registry,
    )

    async def main() -> None:
        # One thread for the whole process: the second sync request queues behind the first.
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
        await asyncio.gather(drive(app, "/sync"), drive(app, "/sync"), drive(app, "/async"))

    asyncio.run(main())
    labels = {"interface": "asgi", "route": "/sync"}
    assert value(registry, "gatewatch_http_request_thread_hops_total", **labels) == 2
    # Only the two /sync requests handed work off (the distributions are the server's).
    assert value(registry, "gatewatch_http_request_offload_seconds_count", interface="asgi") == 2
    # The second one waited most of the first one's 0.3 s for the one thread (half of it
    # leaves room for a late start on a loaded machine); its hand-off includes that wait.
    queue = value(registry, "gatewatch_http_request_offload_queue_seconds_sum", interface="asgi")
    assert queue >= 0.15
    offload = value(registry, "gatewatch_http_route_offload_seconds_total", **labels)
    assert offload == value(registry, "gatewatch_http_request_offload_seconds_sum")
    assert offload >= 2 * 0.3 + queue
    # Async endpoints hand nothing off: no offload total at all.
    assert label_values(registry, "gatewatch_http_route_offload_seconds_total", "route") == {"/sync"}
    # The loop was free meanwhile: the 0.6 s of sleeps did not count as loop-held time.
    assert value(registry, "gatewatch_http_route_blocking_seconds_total", **labels) < 0.15


async def drive(app: GatewatchASGI, path: str) -> None:
    exchange = Exchange()
    await app(http_scope(path), exchange.receive, exchange.send)
    assert exchange.status == 200


def test_concurrent_hand_offs_count_the_wall_time_waited_on_threads() -> None:
    """asyncio.gather of 0.2 s and 0.3 s hand-offs: the request waited 0.3 s, not 0.5 s."""
    record = new_record()

    elapsed: list[float] = []

    async def main() -> None:
        current_record.set(record)
        started = time.perf_counter()
        await asyncio.gather(
            sync_to_async(time.sleep, thread_sensitive=False)(0.2),
            sync_to_async(time.sleep, thread_sensitive=False)(0.3),
        )
        elapsed.append(time.perf_counter() - started)

    asyncio.run(main())
    assert record.thread_hops == 2
    # The longer hand-off, within the time gather took: the sum (0.5 s) would exceed it.
    assert record.offload is not None and 0.3 <= record.offload <= elapsed[0]


def test_concurrent_anyio_hand_offs_count_the_wall_time_waited_on_threads() -> None:
    import anyio
    import anyio.to_thread

    record = new_record()

    elapsed: list[float] = []

    async def main() -> None:
        current_record.set(record)
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.to_thread.run_sync, time.sleep, 0.2)
            group.start_soon(anyio.to_thread.run_sync, time.sleep, 0.3)
        elapsed.append(time.perf_counter() - started)

    anyio.run(main)
    assert record.thread_hops == 2
    # The longer hand-off, within the time the task group took: the sum (0.5 s) would exceed it.
    assert record.offload is not None and 0.3 <= record.offload <= elapsed[0]


def test_hand_offs_after_the_response_are_not_offload() -> None:
    """Django's close hop runs after the last byte: it counts as a hop, not as waiting."""
    record = new_record()

    async def main() -> None:
        current_record.set(record)
        await sync_to_async(time.sleep)(0.05)
        record.end = time.perf_counter()
        await sync_to_async(time.sleep)(0.3)

    asyncio.run(main())
    assert record.thread_hops == 2
    # Only the hand-off before the end: within the request's own time, which the 0.3 s after
    # it would exceed (exact, where a fixed 90 ms window was not on a loaded machine).
    assert record.end is not None
    assert record.offload is not None and 0.05 <= record.offload <= record.end - record.start


def test_install_survives_a_reload_without_wrapping_twice() -> None:
    import importlib

    patched = SyncToAsync.__call__
    reloaded = importlib.reload(thread_offload)
    reloaded.install()
    assert SyncToAsync.__call__ is patched
    record = new_record()

    async def main() -> None:
        current_record.set(record)
        await sync_to_async(lambda: None)()

    asyncio.run(main())
    assert record.thread_hops == 1
    reloaded.uninstall()
    assert SyncToAsync.__call__.__module__ == "asgiref.sync"


def test_uninstall_leaves_a_later_wrapper_of_another_library_in_place() -> None:
    import functools

    ours: Any = SyncToAsync.__call__

    @functools.wraps(ours)
    async def theirs(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await ours(self, *args, **kwargs)

    calls: list[int] = []
    SyncToAsync.__call__ = theirs  # type: ignore[method-assign]
    try:
        thread_offload.uninstall()
        assert SyncToAsync.__call__ is theirs
        record = new_record()

        async def main() -> int:
            current_record.set(record)
            return await sync_to_async(lambda: 42)()

        assert asyncio.run(main()) == 42
        # Theirs still runs; ours passes through without counting.
        assert calls == [1]
        assert record.thread_hops == 0
        # Installing again finds ours beneath theirs and turns it back on, unstacked.
        thread_offload.install()
        assert SyncToAsync.__call__ is theirs
        asyncio.run(main())
        assert record.thread_hops == 1
    finally:
        thread_offload.uninstall()
        SyncToAsync.__call__ = ours.__gatewatch_offload__.original  # type: ignore[method-assign]
