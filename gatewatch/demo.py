"""``gatewatch demo``: the same traffic at an ASGI and a WSGI server, side by side.

Starts ``examples.starlette_app:wrapped`` under uvicorn and ``examples.flask_app:wrapped``
under gunicorn (two sync workers, prometheus-client's multiprocess mode) on loopback,
sends each the same short burst of requests from a few concurrent clients, scrapes
both ``/metrics`` pages and prints what they say, with a few sentences on why the two
interfaces differ. Everything it starts, it stops; it exits by itself.

It needs the test extras (httpx, uvicorn, gunicorn, starlette, flask) and the
project's ``examples/`` directory, which is not an installed package.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from gatewatch.demo_report import ClientStats, Result, report
from gatewatch.scrape_summary import route_summaries, summarize
from gatewatch.server_process import ServerProcess, free_port, gunicorn_command, uvicorn_command

ENDPOINTS: tuple[str, ...] = (
    "/fast",
    "/slow?seconds=0.05",
    "/blocking?seconds=0.02",
    "/stream",
    "/large",
    "/error",
)
ASGI_APP = "examples.starlette_app:wrapped"
WSGI_APP = "examples.flask_app:wrapped"
WSGI_WORKERS = 2
MAX_SECONDS = 60.0
MAX_CLIENTS = 100
REQUIRED = ("httpx", "uvicorn", "gunicorn", "starlette", "flask")


class DemoError(RuntimeError):
    """The demo cannot run here (no project root, a missing extra, a server that fails)."""


def find_project_root(start: Path | None = None) -> Path:
    """The directory holding ``examples/starlette_app.py`` and ``pyproject.toml``: ``start``
    (default: the working directory) or one of its parents, else the checkout this
    package was imported from (an editable install)."""
    candidates: list[Path] = []
    here = (start or Path.cwd()).resolve()
    candidates.extend([here, *here.parents])
    package_parent = Path(__file__).resolve().parent.parent
    candidates.append(package_parent)
    for candidate in candidates:
        if (candidate / "examples" / "starlette_app.py").is_file() and (
            candidate / "pyproject.toml"
        ).is_file():
            return candidate
    raise DemoError(
        "cannot find the gatewatch project root (a directory with examples/ and pyproject.toml); "
        "run the demo from a checkout of the project, or pass --root"
    )


async def drive(base_url: str, *, seconds: float, clients: int) -> ClientStats:
    """``clients`` concurrent clients, each cycling through :data:`ENDPOINTS` until
    ``seconds`` have passed (requests in flight then still finish, with a timeout)."""
    import httpx

    stats = ClientStats()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(10.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + seconds

    async def client(offset: int, http: httpx.AsyncClient) -> None:
        index = offset
        while loop.time() < deadline:
            path = ENDPOINTS[index % len(ENDPOINTS)]
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
    seconds: float = 4.0,
    clients: int = 10,
    root: Path | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the demo; 0 when both servers served requests, 1 otherwise."""
    out = out or sys.stdout
    if not 0 < seconds <= MAX_SECONDS:
        raise DemoError(f"--seconds must be within (0, {MAX_SECONDS:g}], got {seconds:g}")
    if not 1 <= clients <= MAX_CLIENTS:
        raise DemoError(f"--clients must be within [1, {MAX_CLIENTS}], got {clients}")
    missing = [name for name in REQUIRED if _missing(name)]
    if missing:
        raise DemoError(
            f"the demo needs {', '.join(missing)}: pip install -e '.[test]' (or run `make demo`)"
        )
    project = find_project_root(root)
    workdir = Path(tempfile.mkdtemp(prefix="gatewatch-demo-"))
    try:
        results = _run_servers(project, workdir, seconds=seconds, clients=clients, out=out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(results, seconds=seconds, clients=clients, endpoints=len(ENDPOINTS),
           wsgi_workers=WSGI_WORKERS, out=out)
    return 0 if all(r.summary.requests > 0 for r in results) else 1


def _missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def _server_env(project: Path, **extra: str) -> dict[str, str]:
    python_path = os.environ.get("PYTHONPATH", "")
    return {
        "PYTHONPATH": str(project) + (os.pathsep + python_path if python_path else ""),
        **extra,
    }


def _run_servers(
    project: Path, workdir: Path, *, seconds: float, clients: int, out: TextIO
) -> list[Result]:
    multiproc_dir = workdir / "prometheus-multiproc"
    multiproc_dir.mkdir()
    asgi_port, wsgi_port = free_port(), free_port()
    asgi = ServerProcess(
        uvicorn_command(ASGI_APP, asgi_port),
        port=asgi_port,
        ready_path="/metrics",  # scrapes are not recorded, so readiness leaves no trace
        env=_server_env(project),
        cwd=project,
        log_path=workdir / "uvicorn.log",
    )
    # The ASGI server must not inherit a multiprocess directory from the caller.
    asgi.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    asgi.env.pop("prometheus_multiproc_dir", None)
    wsgi = ServerProcess(
        gunicorn_command(WSGI_APP, wsgi_port, "-w", str(WSGI_WORKERS), "--threads", "1"),
        port=wsgi_port,
        ready_path="/metrics",
        env=_server_env(project, PROMETHEUS_MULTIPROC_DIR=str(multiproc_dir)),
        cwd=project,
        log_path=workdir / "gunicorn.log",
    )
    plan = (
        ("ASGI", "uvicorn, 1 process, 1 event loop", asgi, "asgi"),
        ("WSGI", f"gunicorn -w {WSGI_WORKERS} --threads 1, {WSGI_WORKERS} sync workers", wsgi, "wsgi"),
    )
    print("gatewatch demo: the same traffic at an ASGI and a WSGI server", file=out)
    print(f"  ASGI  {ASGI_APP} under uvicorn (1 process, 1 event loop)", file=out)
    print(f"  WSGI  {WSGI_APP} under gunicorn -w {WSGI_WORKERS} --threads 1", file=out)
    print(
        f"  traffic: {clients} concurrent clients for {seconds:g} s at each, cycling "
        + " ".join(ENDPOINTS),
        file=out,
    )
    results: list[Result] = []
    with ExitStack() as stack:
        for label, _, server, _ in plan:
            try:
                stack.enter_context(server)
            except (RuntimeError, TimeoutError) as exc:
                raise DemoError(f"the {label} server did not start: {exc}\n{_tail(server)}") from exc
        out.flush()
        for label, server_text, server, interface in plan:
            print(f"  driving {label} at {server.base_url} ...", end="", file=out, flush=True)
            stats = asyncio.run(drive(server.base_url, seconds=seconds, clients=clients))
            print(f" {stats.responses} responses in {stats.seconds:.1f} s", file=out, flush=True)
            text = scrape(server.base_url)
            results.append(
                Result(
                    label=label,
                    server=server_text,
                    client=stats,
                    summary=summarize(text, interface),
                    routes=route_summaries(text, interface),
                )
            )
    return results


def _tail(server: ServerProcess, lines: int = 20) -> str:
    if server.log_path is None or not server.log_path.exists():
        return ""
    text = server.log_path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])
