from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def item(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse({"pk": pk})


async def async_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async")
