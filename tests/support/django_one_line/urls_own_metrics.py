"""A project with a /metrics view of its own (django-prometheus' place): never shadowed."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from .urls import urlpatterns as project


def own_metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse("the project's own metrics")


urlpatterns = [*project, path("metrics", own_metrics)]
