"""A third-party-style middleware written the old way: sync only."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class LegacyHeaderMiddleware:
    # Django's defaults, spelled out: no async_capable, so under ASGI Django runs it
    # (and hands back to the loop around it) in a thread on every request.
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response["X-Legacy"] = "1"
        return response
