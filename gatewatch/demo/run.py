"""``gatewatch demo``: the same traffic at an ASGI and a WSGI server, side by side.

Which apps run is a :class:`~gatewatch.demo.plan.DemoPlan`. By default
(``--app starlette-flask``) it starts ``gatewatch.demo.apps.starlette_app:wrapped`` under
uvicorn and ``gatewatch.demo.apps.flask_app:wrapped`` under gunicorn; ``--app django`` serves
the one Django project in ``gatewatch.demo.apps.django_project`` both ways (uvicorn and
Channels, gunicorn). The WSGI side runs two sync workers in prometheus-client's multiprocess
mode. Each server gets the same short burst of requests from a few concurrent clients on
loopback; then both ``/metrics`` pages are scraped and compared, with a few sentences on why
the two interfaces differ. Everything it starts, it stops; it exits by itself.

The apps ship with gatewatch (``gatewatch.demo.apps`` is the checkout's ``examples/``), so it
runs from any directory; ``--root CHECKOUT`` serves a checkout's ``examples/`` (and its
gatewatch) instead. It needs the ``demo`` extra: httpx, uvicorn, gunicorn, starlette, flask,
django and channels.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from gatewatch.demo.plan import (
    APPS_PACKAGE,
    CHECKOUT_PACKAGE,
    STARLETTE_FLASK,
    WSGI_WORKERS,
    AppSpec,
    DemoPlan,
    plans_for,
)
from gatewatch.demo.report import ClientStats, Result, report
from gatewatch.demo.servers import (
    LOOPBACK,
    ServerProcess,
    free_port,
    gunicorn_command,
    terminated_as_exit,
    uvicorn_command,
)
from gatewatch.export.prometheus.scrape_summary import route_summaries, summarize

MAX_SECONDS = 60.0
MAX_CLIENTS = 100


class DemoError(RuntimeError):
    """The demo cannot run here (a bad --root, a missing extra, a server that fails)."""


@dataclass(frozen=True)
class AppSource:
    """Where the servers import the apps from."""

    package: str  # APPS_PACKAGE, or CHECKOUT_PACKAGE under --root
    path: Path | None = None  # put first on the servers' PYTHONPATH: the checkout, under --root


def app_source(plans: Sequence[DemoPlan], root: Path | None = None) -> AppSource:
    """The installed apps, or with ``root`` the ``examples/`` of that checkout, which must hold
    every plan's apps (a wrong ``--root`` is an error, never silently replaced)."""
    if root is None:
        if _missing(APPS_PACKAGE):
            raise DemoError(
                f"this gatewatch has no demo apps ({APPS_PACKAGE} is missing): reinstall it "
                "(pip install 'gatewatch[demo]'), or pass --root CHECKOUT"
            )
        return AppSource(APPS_PACKAGE)
    checkout = root.expanduser().resolve()
    for plan in plans:
        marker = checkout / CHECKOUT_PACKAGE / plan.marker
        if not marker.is_file():
            raise DemoError(
                f"--root {root}: no {CHECKOUT_PACKAGE}/{plan.marker} there; pass a checkout of "
                "gatewatch, or leave --root out to serve the apps installed with gatewatch"
            )
    return AppSource(CHECKOUT_PACKAGE, checkout)


async def drive(
    base_url: str, *, seconds: float, clients: int, endpoints: Sequence[str] = STARLETTE_FLASK.endpoints
) -> ClientStats:
    """``clients`` concurrent clients, each cycling through ``endpoints`` until
    ``seconds`` have passed (requests in flight then still finish, with a timeout), each
    sending one request at least."""
    import httpx

    stats = ClientStats()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(10.0)
    loop = asyncio.get_running_loop()

    async def client(offset: int, http: httpx.AsyncClient) -> None:
        index = offset
        # At least once: on a loaded machine the clients may start after the deadline.
        while index == offset or loop.time() < deadline:
            path = endpoints[index % len(endpoints)]
            index += 1
            sent = time.perf_counter()
            try:
                response = await http.get(path)
            except httpx.HTTPError:
                stats.failures += 1
                await asyncio.sleep(0.01)
                continue
            stats.latencies.append(time.perf_counter() - sent)
            stats.responses += 1
            if response.status_code >= 500:
                stats.server_errors += 1

    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as http:
        # The clock starts once the client is built: building the first one (its TLS context,
        # its lazy imports) took 0.8 s under load, and had left a 0.5 s run no time to send
        # anything ("0 responses").
        started = loop.time()
        deadline = started + seconds
        await asyncio.gather(*(client(offset, http) for offset in range(clients)))
    stats.seconds = loop.time() - started
    return stats


def scrape(base_url: str) -> str:
    import httpx

    response = httpx.get(base_url + "/metrics", timeout=10.0)
    response.raise_for_status()
    return response.text


def run(
    *,
    app: str = STARLETTE_FLASK.name,
    seconds: float = 4.0,
    clients: int = 10,
    root: Path | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the demo of ``app`` (a plan name, or ``all`` for each plan in turn); 0 when
    every server served requests, 1 otherwise."""
    out = out or sys.stdout
    if not 0 < seconds <= MAX_SECONDS:
        raise DemoError(f"--seconds must be within (0, {MAX_SECONDS:g}], got {seconds:g}")
    if not 1 <= clients <= MAX_CLIENTS:
        raise DemoError(f"--clients must be within [1, {MAX_CLIENTS}], got {clients}")
    try:
        plans = plans_for(app)
    except ValueError as exc:
        raise DemoError(str(exc)) from exc
    # Check every plan before starting any server, so `all` fails before it takes any time.
    missing = sorted({name for plan in plans for name in plan.required if _missing(name)})
    if missing:
        raise DemoError(
            f"the demo needs {', '.join(missing)}: pip install 'gatewatch[demo]' (in a checkout: make demo)"
        )
    source = app_source(plans, root)
    status = 0
    for index, plan in enumerate(plans):
        if index:
            print("", file=out)
            print("=" * 96, file=out)
        status = max(status, _run_plan(plan, source, seconds=seconds, clients=clients, out=out))
    return status


def _run_plan(plan: DemoPlan, source: AppSource, *, seconds: float, clients: int, out: TextIO) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="gatewatch-demo-"))
    try:
        # SIGTERM (and SIGHUP) unwind like Ctrl-C, so the servers are stopped on the way out.
        with terminated_as_exit():
            results = _run_servers(plan, source, workdir, seconds=seconds, clients=clients, out=out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(
        results,
        table=plan.route_table(results),
        notes=plan.explain(results, plan),
        footnote=plan.footnote,
        out=out,
    )
    return 0 if all(r.summary.requests > 0 for r in results) else 1


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def _server_env(plan: DemoPlan, source: AppSource, **extra: str) -> dict[str, str]:
    env = dict(extra)
    if source.path is not None:
        python_path = os.environ.get("PYTHONPATH", "")
        env["PYTHONPATH"] = str(source.path) + (os.pathsep + python_path if python_path else "")
    if plan.settings is not None:
        env["DJANGO_SETTINGS_MODULE"] = f"{source.package}.{plan.settings}"
    return env


SIDE_ADDRESS_VAR = "GATEWATCH_SIDE_ADDRESS"


def side_url(server: ServerProcess) -> str | None:
    """The side server of a demo server (its gunicorn's arbiter), if it runs one."""
    address = server.env.get(SIDE_ADDRESS_VAR)
    return f"http://{address}" if address else None


def _server(
    spec: AppSpec, plan: DemoPlan, source: AppSource, workdir: Path, *, live_token: str | None = None
) -> ServerProcess:
    port = free_port()
    extra = {"GATEWATCH_LIVE_TOKEN": live_token} if live_token else {}
    log_path = workdir / f"{spec.server}.log"
    target = spec.target(source.package)
    # The servers run in the demo's own scratch directory: nothing is imported from, or
    # written to, wherever the user happens to be.
    if spec.server == "gunicorn":
        multiproc_dir = workdir / "prometheus-multiproc"
        multiproc_dir.mkdir(mode=0o700)
        # gatewatch's hooks, as the docs write them: the arbiter serves /metrics and the live view
        # of every worker at the side address, answering while both workers are busy.
        config = workdir / "gunicorn.conf.py"
        config.write_text("from gatewatch.integrations.gunicorn import *  # noqa: F403\n")
        extra[SIDE_ADDRESS_VAR] = f"{LOOPBACK}:{free_port()}"
        return ServerProcess(
            gunicorn_command(target, port, "-w", str(WSGI_WORKERS), "--threads", "1", "-c", str(config)),
            port=port,
            ready_path=plan.ready_path,
            env=_server_env(plan, source, PROMETHEUS_MULTIPROC_DIR=str(multiproc_dir), **extra),
            cwd=workdir,
            log_path=log_path,
        )
    server = ServerProcess(
        uvicorn_command(target, port),
        port=port,
        ready_path=plan.ready_path,
        env=_server_env(plan, source, **extra),
        cwd=workdir,
        log_path=log_path,
    )
    # The single-process server must not inherit a multiprocess directory from the caller.
    server.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server.env.pop("prometheus_multiproc_dir", None)
    server.env.pop(SIDE_ADDRESS_VAR, None)
    return server


def _run_servers(
    plan: DemoPlan, source: AppSource, workdir: Path, *, seconds: float, clients: int, out: TextIO
) -> list[Result]:
    servers = [(spec, _server(spec, plan, source, workdir)) for spec in plan.sides]
    print(plan.title, file=out)
    for spec in plan.sides:
        print(f"  {spec.label}  {spec.banner(source.package)}", file=out)
    print(
        f"  traffic: {clients} concurrent clients for {seconds:g} s at each, cycling "
        + " ".join(plan.endpoints),
        file=out,
    )
    results: list[Result] = []
    with ExitStack() as stack:
        for spec, server in servers:
            try:
                stack.enter_context(server)
            except (RuntimeError, TimeoutError) as exc:
                raise DemoError(f"the {spec.label} server did not start: {exc}\n{_tail(server)}") from exc
        out.flush()
        for spec, server in servers:
            print(f"  driving {spec.label} at {server.base_url} ...", end="", file=out, flush=True)
            stats = asyncio.run(
                drive(server.base_url, seconds=seconds, clients=clients, endpoints=plan.endpoints)
            )
            print(f" {stats.responses} responses in {stats.seconds:.1f} s", file=out, flush=True)
            text = scrape(server.base_url)
            excluded = plan.excluded_routes
            results.append(
                Result(
                    label=spec.label,
                    server=spec.description,
                    client=stats,
                    summary=summarize(text, spec.interface, exclude_routes=excluded),
                    routes=route_summaries(text, spec.interface, exclude_routes=excluded),
                )
            )
    return results


def _tail(server: ServerProcess, lines: int = 20) -> str:
    if server.log_path is None or not server.log_path.exists():
        return ""
    text = server.log_path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])
