"""A URLconf with Django's router shapes that carry parameters above the view: ``include()``
under a ``path()`` converter and under a ``re_path()`` group, and ``re_path()`` views
(``@pytest.mark.urls("tests.support.django_route_shapes")``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path


def ok(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    return HttpResponse("ok")


tenant_patterns = [
    path("items/", ok),
    re_path(r"^orders/(?P<order>[0-9]+)/$", ok),
]

urlpatterns = [
    path("t/<slug:tenant>/", include(tenant_patterns)),
    re_path(r"^r/(?P<tenant>[^/]+)/", include(tenant_patterns)),
    re_path(r"^articles/(?P<year>[0-9]{4})/(\w+)/$", ok),
]
