"""Views of every kind Django serves, including the ones that go wrong under ASGI."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views import View


def _seconds(request: HttpRequest, default: float) -> float:
    try:
        return min(max(float(request.GET.get("seconds", default)), 0.0), 5.0)
    except ValueError:
        return default


def index(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "views": [
                "sync",
                "async",
                "slow-sync",
                "slow-async",
                "blocking-async",
                "items/<pk>",
                "stream",
                "error",
                "health",
            ]
        }
    )


def sync_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("sync\n")


async def async_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async\n")


def slow_sync(request: HttpRequest) -> HttpResponse:
    # Under WSGI this holds a worker; under ASGI a thread, while the loop stays free.
    time.sleep(_seconds(request, 0.05))
    return HttpResponse("slow sync\n")


async def slow_async(request: HttpRequest) -> HttpResponse:
    await asyncio.sleep(_seconds(request, 0.05))
    return HttpResponse("slow async\n")


async def blocking_async(request: HttpRequest) -> HttpResponse:
    # The mistake: a blocking call inside an async view freezes the whole event loop.
    time.sleep(_seconds(request, 0.05))
    return HttpResponse("blocked the loop\n")


def item(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse({"id": pk})


def stream(request: HttpRequest) -> StreamingHttpResponse:
    chunks = int(request.GET.get("chunks", "5"))
    # An async iterator under ASGI and a sync one under WSGI: Django would otherwise
    # buffer or bridge the other kind (and warn).
    if isinstance(request, ASGIRequest):
        return StreamingHttpResponse(_async_chunks(chunks), content_type="text/plain")
    return StreamingHttpResponse(_sync_chunks(chunks), content_type="text/plain")


def _sync_chunks(count: int) -> Iterator[bytes]:
    for n in range(count):
        time.sleep(0.005)
        yield b"chunk %d\n" % n


async def _async_chunks(count: int) -> AsyncIterator[bytes]:
    for n in range(count):
        await asyncio.sleep(0.005)
        yield b"chunk %d\n" % n


def error(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("example failure")


class HealthView(View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"ok": True})
