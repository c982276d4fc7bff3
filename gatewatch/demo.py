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
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from gatewatch.scrape_summary import InterfaceSummary, RouteSummary, route_summaries, summarize
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


@dataclass
class ClientStats:
    """What the load generator saw for one server."""

    seconds: float = 0.0
    responses: int = 0
    server_errors: int = 0
    failures: int = 0  # no response at all (connection error, timeout)
    latencies: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.responses / self.seconds if self.seconds > 0 else 0.0

    def latency_quantile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


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


@dataclass(frozen=True)
class Result:
    label: str
    server: str
    client: ClientStats
    summary: InterfaceSummary
    routes: dict[str, RouteSummary]


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
    report(results, seconds=seconds, clients=clients, out=out)
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


# -- the report -------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _bytes(value: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  " + "   ".join(cells).rstrip())
    lines.insert(1, "  " + "-" * (sum(widths) + 3 * (len(widths) - 1)))
    return lines


def summary_rows(results: Sequence[Result]) -> list[list[str]]:
    def row(name: str, cells: Sequence[str]) -> list[str]:
        return [name, *cells]

    s = [r.summary for r in results]
    k = [r.client for r in results]
    return [
        row("requests (server)", [_count(x.requests) for x in s]),
        row("  throughput (client)", [f"{x.throughput:,.0f} req/s" for x in k]),
        row("5xx responses / exceptions", [f"{_count(x.server_errors)} / {_count(x.exceptions)}" for x in s]),
        row("duration p50 (server)", [_ms(x.duration_p50) for x in s]),
        row("duration p95 (server)", [_ms(x.duration_p95) for x in s]),
        row("  latency p50 / p95 (client)", [
            f"{_ms(x.latency_quantile(0.5))} / {_ms(x.latency_quantile(0.95))}" for x in k
        ]),
        row("blocking time, total", [f"{x.blocking_total:.2f} s" for x in s]),
        row("blocking time per request", [_ms(x.blocking_per_request) for x in s]),
        row("CPU time, total", [f"{x.cpu_total:.2f} s" for x in s]),
        row("CPU time per request", [_ms(x.cpu_per_request) for x in s]),
        row("mean concurrency at arrival", [
            "-" if x.concurrency_mean is None else f"{x.concurrency_mean:.2f}" for x in s
        ]),
        row("bytes out", [_bytes(x.bytes_out) for x in s]),
        row("disconnects", [_count(x.disconnects) for x in s]),
    ]


def route_rows(results: Sequence[Result]) -> list[list[str]]:
    routes = sorted({route for r in results for route in r.routes})
    rows = []
    for route in routes:
        cells = [route]
        for result in results:
            summary = result.routes.get(route)
            if summary is None:
                cells.extend(["-", "-", "-"])
            else:
                cells.extend([
                    _ms(summary.duration_mean), _ms(summary.blocking_mean), _ms(summary.cpu_mean),
                ])
        rows.append(cells)
    return rows


def explain(results: Sequence[Result]) -> list[str]:
    """A few sentences, with this run's numbers, on what differs and why."""
    by_label = {r.label: r for r in results}
    asgi, wsgi = by_label.get("ASGI"), by_label.get("WSGI")
    notes: list[str] = []
    if asgi is not None:
        slow, blocking = asgi.routes.get("/slow"), asgi.routes.get("/blocking")
        if slow is not None and blocking is not None:
            notes.append(
                f"ASGI /slow took {_ms(slow.duration_mean)} on average but held the event loop "
                f"for only {_ms(slow.blocking_mean)}: it awaits anyio.sleep, so the loop served "
                f"other requests meanwhile. /blocking calls time.sleep inside an async view and "
                f"held the loop for {_ms(blocking.blocking_mean)}, {_share(blocking)} of its "
                f"duration: for that long no other request on the loop could make progress."
            )
        stream, fast = asgi.routes.get("/stream"), asgi.routes.get("/fast")
        if slow is not None and stream is not None and fast is not None:
            notes.append(
                f"That is why ASGI /slow took {_ms(slow.duration_mean)} for a 50 ms sleep and "
                f"/stream {_ms(stream.duration_mean)} for 5 x 10 ms: when their sleeps ended, the "
                f"loop was often held by someone's blocking step. /fast never awaits and took "
                f"{_ms(fast.duration_mean)} once the app got it, yet clients waited "
                f"{_ms(asgi.client.latency_quantile(0.5))} (p50): a request that arrives while the "
                f"loop is held waits before the app is even called, where no per-request timer "
                f"can see it."
            )
        if blocking is not None:
            notes.append(
                f"Blocking is not CPU: ASGI /blocking used {_ms(blocking.cpu_mean)} of CPU while "
                f"it held the loop; a sleeping synchronous call blocks the loop just the same."
            )
        if asgi.summary.concurrency_mean is not None:
            notes.append(
                f"One event loop multiplexes every connection: an ASGI request found "
                f"{asgi.summary.concurrency_mean:.1f} others in flight on arrival, on average."
            )
    if wsgi is not None:
        slow = wsgi.routes.get("/slow")
        if slow is not None:
            notes.append(
                f"Under WSGI every request holds its worker for its whole duration, so blocking "
                f"time equals duration: /slow held a worker for {_ms(slow.blocking_mean)} while "
                f"it only slept. A sync worker serves one request at a time (mean concurrency at "
                f"arrival {wsgi.summary.concurrency_mean or 0:.2f} per process); with "
                f"{WSGI_WORKERS} workers the other clients wait in the listen queue, which the "
                f"server-side duration cannot see but the client latency does "
                f"(client p50 {_ms(wsgi.client.latency_quantile(0.5))} vs server p50 "
                f"{_ms(wsgi.summary.duration_p50)})."
            )
        blocking = wsgi.routes.get("/blocking")
        if blocking is not None:
            notes.append(
                f"WSGI /blocking spins on the CPU: {_ms(blocking.cpu_mean)} of CPU in "
                f"{_ms(blocking.duration_mean)}; /slow used {_ms(slow.cpu_mean if slow else None)}."
            )
    if asgi is not None and wsgi is not None:
        notes.append(
            f"With the same {len(ENDPOINTS)}-endpoint mix, one event loop served "
            f"{asgi.client.throughput:,.0f} req/s and {WSGI_WORKERS} sync workers "
            f"{wsgi.client.throughput:,.0f} req/s: awaiting is cheap for ASGI, while a WSGI "
            f"worker is occupied by every request, fast or slow."
        )
    return notes


def _share(route: RouteSummary) -> str:
    """Blocking time as a share of duration. It can come out a hair above 100 %: the duration
    ends with the last body message, the coroutine's last step a little later."""
    if not route.duration_mean or route.blocking_mean is None:
        return "-"
    return f"{min(route.blocking_mean / route.duration_mean, 1.0):.0%}"


def report(results: Sequence[Result], *, seconds: float, clients: int, out: TextIO) -> None:
    header = ["", *(f"{r.label} ({r.server.split(',')[0]})" for r in results)]
    print("", file=out)
    for line in _table(header, summary_rows(results)):
        print(line, file=out)
    print("", file=out)
    print(
        "Per route, mean per request: duration / time holding the loop (ASGI) or the worker (WSGI) "
        "/ CPU time",
        file=out,
    )
    route_header = ["route"]
    for result in results:
        route_header.extend([f"{result.label} dur", f"{result.label} held", f"{result.label} cpu"])
    for line in _table(route_header, route_rows(results)):
        print(line, file=out)
    print("", file=out)
    print("What differs:", file=out)
    for note in explain(results):
        print(_wrap("- " + note, indent="  "), file=out)


def _wrap(text: str, *, indent: str, width: int = 96) -> str:
    import textwrap

    return textwrap.fill(text, width=width, subsequent_indent=indent)
