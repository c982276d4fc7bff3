"""What one ``gatewatch demo`` run compares: the two apps, the traffic and how to explain it.

The driver (:mod:`gatewatch.demo.run`) and the report (:mod:`gatewatch.demo.report`) are the
same for every plan; a plan only says which apps to start, which paths to cycle through,
which routes are the demo's own plumbing, and which table and sentences to print.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gatewatch.demo import django_demo as django_report
from gatewatch.demo.report import Result, RouteTable, explain, route_table

WSGI_WORKERS = 2
# Where the apps are imported from: the installed package (any directory), or the checkout's
# examples/ (``--root``). They are the same files: pyproject.toml maps the first onto the second.
APPS_PACKAGE = "gatewatch.demo.apps"
CHECKOUT_PACKAGE = "examples"


@dataclass(frozen=True)
class AppSpec:
    """One side of the comparison."""

    label: str  # "ASGI" or "WSGI", as the report's columns are headed
    interface: str  # the ``interface`` label value in the scrape
    app: str  # "module:attribute" inside the apps package (APPS_PACKAGE or CHECKOUT_PACKAGE)
    server: str  # "uvicorn" (one process) or "gunicorn" (WSGI_WORKERS sync workers)

    def target(self, package: str = APPS_PACKAGE) -> str:
        """What the server is told to import: ``package.module:attribute``."""
        return f"{package}.{self.app}"

    @property
    def description(self) -> str:
        """How the server runs, as the report's column header and the banner say it."""
        if self.server == "gunicorn":
            return f"gunicorn -w {WSGI_WORKERS} --threads 1, {WSGI_WORKERS} sync workers"
        return "uvicorn, 1 process, 1 event loop"

    def banner(self, package: str = APPS_PACKAGE) -> str:
        if self.server == "gunicorn":
            return f"{self.target(package)} under gunicorn -w {WSGI_WORKERS} --threads 1"
        return f"{self.target(package)} under uvicorn (1 process, 1 event loop)"


@dataclass(frozen=True)
class DemoPlan:
    name: str  # the --app choice
    title: str
    sides: tuple[AppSpec, AppSpec]  # ASGI first: the report reads left to right in this order
    endpoints: tuple[str, ...]
    required: tuple[str, ...]  # importable modules the servers need
    marker: str  # a file of the plan's apps, relative to the apps package's directory
    ready_path: str
    # Routes the demo itself causes (readiness probes, scrapes) rather than the traffic;
    # they are left out of every number.
    excluded_routes: tuple[str, ...]
    explain: Callable[[Sequence[Result], DemoPlan], list[str]]
    route_table: Callable[[Sequence[Result]], RouteTable]
    footnote: str = ""
    # The Django settings module inside the apps package, set for both servers so that a
    # DJANGO_SETTINGS_MODULE inherited from the caller never points them at other settings.
    settings: str | None = None

    @property
    def wsgi_workers(self) -> int:
        return WSGI_WORKERS


def _explain_starlette_flask(results: Sequence[Result], plan: DemoPlan) -> list[str]:
    return explain(results, endpoints=len(plan.endpoints), wsgi_workers=plan.wsgi_workers)


def _explain_django(results: Sequence[Result], plan: DemoPlan) -> list[str]:
    return django_report.explain(results, endpoints=len(plan.endpoints), wsgi_workers=plan.wsgi_workers)


STARLETTE_FLASK = DemoPlan(
    name="starlette-flask",
    title="gatewatch demo: the same traffic at an ASGI and a WSGI server",
    sides=(
        AppSpec("ASGI", "asgi", "starlette_app:wrapped", "uvicorn"),
        AppSpec("WSGI", "wsgi", "flask_app:wrapped", "gunicorn"),
    ),
    endpoints=(
        "/fast",
        "/slow?seconds=0.05",
        "/blocking?seconds=0.02",
        "/stream",
        "/large",
        "/error",
    ),
    required=("httpx", "uvicorn", "gunicorn", "starlette", "flask"),
    marker="starlette_app.py",
    ready_path="/metrics",  # the middlewares answer it themselves and never record it
    excluded_routes=(),
    explain=_explain_starlette_flask,
    route_table=route_table,
)

DJANGO = DemoPlan(
    name="django",
    title="gatewatch demo --app django: one Django project, served as ASGI and as WSGI",
    sides=(
        AppSpec("ASGI", "asgi", "django_project.asgi:application", "uvicorn"),
        AppSpec("WSGI", "wsgi", "django_project.wsgi:application", "gunicorn"),
    ),
    endpoints=django_report.ENDPOINTS,
    required=("httpx", "uvicorn", "gunicorn", "django", "channels"),
    marker="django_project/settings.py",
    # gatewatch.integrations.django.urls serves /metrics and gatewatch leaves it unrecorded;
    # excluded_routes keeps it out of the comparison should a project record it.
    ready_path="/metrics",
    excluded_routes=("/metrics",),
    explain=_explain_django,
    route_table=django_report.route_table,
    footnote=django_report.FOOTNOTE,
    settings="django_project.settings",
)

PLANS: dict[str, DemoPlan] = {plan.name: plan for plan in (STARLETTE_FLASK, DJANGO)}
ALL = "all"
APP_CHOICES: tuple[str, ...] = (*PLANS, ALL)


def plans_for(app: str) -> list[DemoPlan]:
    """The plans ``--app`` names, in the order they run."""
    if app == ALL:
        return list(PLANS.values())
    if app not in PLANS:
        raise ValueError(f"unknown demo app {app!r}; choose one of {', '.join(APP_CHOICES)}")
    return [PLANS[app]]
