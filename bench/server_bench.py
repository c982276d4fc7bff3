"""Server-level benchmark: real uvicorn and gunicorn on 127.0.0.1, loaded by wrk.

Each contender is served by a fresh server process (uvicorn with uvloop and httptools, one
worker; gunicorn with one sync worker) and loaded by ``wrk`` (Debian's package; one thread, a
fixed number of connections) after a short warm-up. The contenders are interleaved round by
round, so drift hits them alike; the table gives the median requests per second over the
rounds and its share of the bare app's. A memory run then sends 200 000 requests over 1 000
route templates and reads the server's resident memory and series count as it goes.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.server_apps import ASGI_CONTENDERS, WSGI_CONTENDERS
from gatewatch.demo.servers import ServerProcess, free_port, gunicorn_command, uvicorn_command
from gatewatch.demo.text_table import text_table

ROOT = Path(__file__).resolve().parents[1]
_RATE = re.compile(r"Requests/sec:\s+([0-9.]+)")
_SCRIPT = """request = function()
  n = (n or 0) + 1
  return wrk.format("GET", "/r/" .. (n % 1000))
end
"""


@dataclass(frozen=True)
class Load:
    rounds: int = 3
    # wrk takes whole seconds.
    seconds: int = 3
    warmup: int = 1
    connections: int = 32


QUICK = Load(rounds=1, seconds=1, warmup=1, connections=16)
MEMORY_REQUESTS = 200_000


def wrk(url: str, *, seconds: int, connections: int, script: str | None = None) -> float:
    """Requests per second wrk measured against ``url``."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    if script is not None:
        command += ["-s", script]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 30, check=True)
    found = _RATE.search(done.stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no rate:\n{done.stdout}\n{done.stderr}")
    return float(found.group(1))


def _server(interface: str, attribute: str, port: int) -> ServerProcess:
    app = f"bench.server_apps:{attribute}"
    if interface == "asgi":
        command = uvicorn_command(app, port, "--loop", "uvloop", "--http", "httptools", "--no-access-log")
    else:
        command = gunicorn_command(app, port, "-w", "1", "-k", "sync")
    # Single-process numbers: no multiprocess directory, no snapshot files.
    env = {"PROMETHEUS_MULTIPROC_DIR": "", "GATEWATCH_LIVE_DIR": ""}
    server = ServerProcess(command, port=port, ready_path="/", cwd=ROOT, env=env)
    for name in ("PROMETHEUS_MULTIPROC_DIR", "GATEWATCH_LIVE_DIR"):
        server.env.pop(name, None)
    return server


def throughput(interface: str, contenders: dict[str, str], load: Load) -> dict[str, list[float]]:
    """Requests/s of every contender in every round, rounds interleaved (order rotated)."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for round_number in range(load.rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            port = free_port()
            with _server(interface, contenders[name], port) as server:
                url = server.base_url + "/"
                wrk(url, seconds=load.warmup, connections=load.connections)
                rates[name].append(wrk(url, seconds=load.seconds, connections=load.connections))
    return rates


def throughput_table(title: str, rates: dict[str, list[float]]) -> list[str]:
    bare_name = next(iter(rates))
    bare = statistics.median(rates[bare_name])
    rows = []
    for name, values in rates.items():
        median = statistics.median(values)
        share = "-" if name == bare_name else f"{median / bare:.0%}"
        rows.append((name, f"{median:,.0f}", share, f"{max(values) - min(values):,.0f}", str(len(values))))
    return [title, *text_table(("case", "requests/s", "share of bare", "spread", "rounds"), rows)]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def memory_run(total: int, *, checkpoints: int = 4, connections: int = 32) -> list[str]:
    """Resident memory after each quarter of ``total`` requests over 1 000 routes, then the
    series a scrape shows, twice. Scrapes come last: one of ~94 000 series builds tens of MiB
    of short-lived objects that the allocator keeps, which is the scrape's cost, not growth."""
    port = free_port()
    rows = []
    with tempfile.TemporaryDirectory() as scratch, _server("asgi", "asgi_thousand_routes", port) as server:
        script = Path(scratch) / "routes.lua"
        script.write_text(_SCRIPT)
        url = server.base_url + "/"
        sent = 0
        for step in range(checkpoints):
            # wrk runs for a time, not a count: size each step from the rate measured so far.
            rate = wrk(url, seconds=1, connections=connections, script=str(script))
            sent += int(rate)
            remaining = total * (step + 1) // checkpoints - sent
            if remaining > 0:
                seconds = max(round(remaining / rate), 1)
                sent += int(wrk(url, seconds=seconds, connections=connections, script=str(script)) * seconds)
            rows.append((f"{sent:,}", f"{_rss_kib(server.pid) / 1024:.1f}", "-"))
        for _ in range(2):
            text = httpx.get(server.base_url + "/metrics", timeout=30).text
            series = sum(1 for line in text.splitlines() if line.startswith("gatewatch_"))
            rows.append(("a scrape", f"{_rss_kib(server.pid) / 1024:.1f}", f"{series:,}"))
    header = ("requests sent (about)", "resident MiB", "gatewatch series")
    return ["Memory: uvicorn, 1 000 route templates, requests spread evenly", *text_table(header, rows)]


def run(load: Load, *, memory_requests: int) -> list[str]:
    if shutil.which("wrk") is None:
        return ["Server level: skipped, wrk is not installed (Debian: apt-get install wrk)."]
    lines = throughput_table(
        f"ASGI: Starlette hello world, uvicorn (uvloop, httptools, 1 worker), wrk -t1 -c{load.connections}",
        throughput("asgi", ASGI_CONTENDERS, load),
    )
    lines += [
        "",
        *throughput_table(
            f"WSGI: Flask hello world, gunicorn (1 sync worker), wrk -t1 -c{load.connections}",
            throughput("wsgi", WSGI_CONTENDERS, load),
        ),
    ]
    if memory_requests:
        lines += ["", *memory_run(memory_requests)]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.server_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--memory-requests", type=int, default=MEMORY_REQUESTS)
    args = parser.parse_args(argv)
    load = QUICK if args.quick else Load()
    print("\n".join(run(load, memory_requests=0 if args.quick else args.memory_requests)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
