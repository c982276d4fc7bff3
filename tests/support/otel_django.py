"""A URLconf for the OpenTelemetry tests: a sync Django view that makes a span of its own."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from opentelemetry import trace

# The tracer provider the view's span goes to: the test's, set before the request.
provider: trace.TracerProvider | None = None


def traced_view(request: HttpRequest, pk: int) -> HttpResponse:
    with trace.get_tracer("tests.view", tracer_provider=provider).start_as_current_span("view work"):
        return HttpResponse(f"item {pk}\n")


urlpatterns = [path("things/<int:pk>/", traced_view)]
