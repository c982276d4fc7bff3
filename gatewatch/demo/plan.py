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


@dataclass(frozen=True)
class AppSpec:
    """One side of the comparison."""

    label: str  # "ASGI" or "WSGI", as the report's columns are headed
    interface: str  # the ``interface`` label value in the scrape
    app: str  # "module:attribute", importable from the project root
    server: str  # "uvicorn" (one process) or "gunicorn" (WSGI_WORKERS sync workers)

    @property
    def description(self) -> str:
        """How the server runs, as the report's column header and the banner say it."""
        if self.server == "gunicorn":
            return f"gunicorn -w {WSGI_WORKERS} --threads 1, {WSGI_WORKERS} sync workers"
        return "uvicorn, 1 process, 1 event loop"

    @property
    def banner(self) -> str:
        if self.server == "gunicorn":
            return f"{self.app} under gunicorn -w {WSGI_WORKERS} --threads 1"
        return f"{self.app} under uvicorn (1 process, 1 event loop)"


@dataclass(frozen=True)
class DemoPlan:
    name: str  # the --app choice
    title: str
    sides: tuple[AppSpec, AppSpec]  # ASGI first: the report reads left to right in this order
    endpoints: tuple[str, ...]
    required: tuple[str, ...]  # importable modules the servers need
    marker: str  # a file, relative to the project root, that the apps live next to
    ready_path: str
    # Routes the demo itself causes (readiness probes, scrapes) rather than the traffic;
    # they are left out of every number.
    excluded_routes: tuple[str, ...]
    explain: Callable[[Sequence[Result], DemoPlan], list[str]]
    route_table: Callable[[Sequence[Result]], RouteTable]
    footnote: str = ""

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
        AppSpec("ASGI", "asgi", "examples.starlette_app:wrapped", "uvicorn"),
        AppSpec("WSGI", "wsgi", "examples.flask_app:wrapped", "gunicorn"),
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
    marker="examples/starlette_app.py",
    ready_path="/metrics",  # the middlewares answer it themselves and never record it
    excluded_routes=(),
    explain=_explain_starlette_flask,
    route_table=route_table,
)

DJANGO = DemoPlan(
    name="django",
    title="gatewatch demo --app django: one Django project, served as ASGI and as WSGI",
    sides=(
        AppSpec("ASGI", "asgi", "examples.django_project.asgi:application", "uvicorn"),
        AppSpec("WSGI", "wsgi", "examples.django_project.wsgi:application", "gunicorn"),
    ),
    endpoints=django_report.ENDPOINTS,
    required=("httpx", "uvicorn", "gunicorn", "django", "channels"),
    marker="examples/django_project/settings.py",
    # Django serves /metrics as an ordinary view, so the probe and the scrape are
    # recorded; excluded_routes keeps them out of the comparison.
    ready_path="/metrics",
    excluded_routes=("/metrics",),
    explain=_explain_django,
    route_table=django_report.route_table,
    footnote=django_report.FOOTNOTE,
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
