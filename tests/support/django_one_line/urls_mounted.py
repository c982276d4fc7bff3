"""The optional URLconf step: gatewatch's pages mounted under a prefix of the project's choice."""

from __future__ import annotations

from django.urls import include, path

from .urls import urlpatterns as project

urlpatterns = [*project, path("ops/", include("gatewatch.integrations.django.urls"))]
