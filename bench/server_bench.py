"""Server-level benchmark: real uvicorn and gunicorn on 127.0.0.1, loaded by wrk.

Each contender is served by a real server process (uvicorn with uvloop and httptools, one
worker; gunicorn with one sync worker) and loaded by ``wrk`` (Debian's package; one thread, a
fixed number of connections). On a small, shared VM the same bare app's throughput wanders by
10-30 % from one run to the next, more than the differences between contenders, and the CPU
itself is not steady (a fixed loop takes 110 ms or 170 ms from one second to the next). So the
method is built to cancel that noise rather than to hope it away:

* Pinning. Every server runs on one CPU and wrk on another (``taskset -c``), so that the two
  never compete for a CPU and the scheduler does not move them about. Without ``taskset`` or a
  second CPU the run goes unpinned and the titles say so.
* Both builds. gatewatch's rows run once per build, each server started by that build's
  interpreter from its venv (:mod:`bench.builds`: the pure and the mypyc-compiled wheel,
  installed), so that both face the same bare app, floor and peers in the same rounds.
* All servers up at once. All contenders of one interface are started together, each on its own
  port and all pinned to the same CPU (an idle server costs next to nothing), and each is warmed
  up once; no server start or import lands inside a measurement. All are stopped by PID at the
  end, whatever happens.
* Interleaved short rounds. Then every round loads each contender once for a second, the order
  rotated each round and reversed every other one, so that the host's ups and downs (noisy
  neighbours, CPU frequency, the other CPU's load) hit every contender alike instead of
  whichever happened to run during them, and each contender gets many samples.
* Medians over the rounds, which a few disturbed rounds do not move, of two measures:

  - requests per second as wrk counts them, and its share of the bare app's;
  - the server's CPU time per request: user + system time of the server process and all its
    descendants (gunicorn's master and worker) from ``/proc``, read before and after each wrk
    run and divided by the requests wrk completed. "share by CPU" is the bare app's CPU time
    per request over the contender's, comparable to the throughput share.

  Throughput loses every moment the server waits to be scheduled (a neighbour, an interrupt,
  wrk itself being slow to send); CPU time counts only the work the server did, so it is
  steadier and ranks close contenders that throughput cannot tell apart. It does not see
  kernel work charged elsewhere (loopback softirqs on wrk's CPU), which is alike for every
  contender.
* CPU speed. CPU time does see how fast the CPU runs, and on a shared host that is what moves
  it most (its correlation with a fixed loop's time was 0.5-0.8). So a few milliseconds of fixed
  pure-Python work are timed on the servers' CPU just before and just after each wrk run, and
  each run's CPU time per request is scaled by that probe against the probe's median over the
  whole measurement: the column reads "µs per request on this run's typical CPU". Under a
  neighbour's load this cut the CPU measure's spread from 34-50 % to 8-22 %.

The spread columns (interquartile range / median over the rounds) say how far to trust a share:
two contenders whose shares differ by less than their spreads are not ranked by this run. Below
each table, the share of the time other work wanted a CPU (Linux PSI) tells a quiet run from a
crowded one.

A memory run then sends 200 000 requests over 1 000 route templates and reads the server's
resident memory and series count as it goes.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.builds import Build, prepare
from bench.cpu_meter import cpu_seconds, pressure_stalled_us, process_tree, speed_probe
from bench.server_apps import ASGI_CONTENDERS, WSGI_CONTENDERS
from bench.server_report import Measurement, Sample, Samples, server_targets, throughput_table
from gatewatch.demo.servers import ServerProcess, free_port, gunicorn_command, uvicorn_command

ROOT = Path(__file__).resolve().parents[1]
_RATE = re.compile(r"Requests/sec:\s+([0-9.]+)")
_REQUESTS = re.compile(r"(\d+) requests in ")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


@dataclass(frozen=True)
class Load:
    # Many short rounds rather than a few long ones. On the 2-CPU VM this was tuned on, the
    # noise is fast: a fixed loop on an otherwise idle CPU ran 110 or 170 ms from one second to
    # the next, so neighbouring 1 s runs are barely more alike than distant ones, and what cuts
    # the noise is the number of samples per contender. 16 rounds of 1 s give twice the samples
    # of 8 rounds of 2 s for the same time; the CPU clock's 10 ms ticks add at most ~2 % to
    # one sample, far below the noise, and the median absorbs it. 13 contenders x 16 rounds:
    # both tables took 4.5 minutes there, start-ups, warm-ups and speed probes included; with
    # gatewatch's rows once per build, 24 contenders.
    rounds: int = 16
    # wrk takes whole seconds; a warm-up of 0 skips it.
    seconds: int = 1
    warmup: int = 2
    # 16 connections, from 8-20 interleaved rounds of the bare apps at 8, 16, 32 and 64: at 64
    # the CPU per request of both servers scattered about twice as much (gunicorn's sync worker
    # closes every connection: wrk spends the run reconnecting through a long backlog); between
    # 8, 16 and 32 the spreads were within the noise of each other. 16 is the fewest that
    # saturate uvicorn's one worker (at 8 it served 8-10 % fewer requests/s: wrk's round trips
    # showed through), and gunicorn's sync worker serves one connection at a time, so more
    # would only lengthen its accept queue.
    connections: int = 16


QUICK = Load(rounds=1, seconds=1, warmup=0, connections=16)
MEMORY_REQUESTS = 200_000


@dataclass(frozen=True)
class Pinning:
    """Where the servers and wrk run: ``taskset`` prefixes for their commands."""

    server: tuple[str, ...]
    load: tuple[str, ...]
    description: str
    server_cpu: int | None = None  # where the speed probe runs: the servers' CPU, if pinned

    @property
    def pinned(self) -> bool:
        return bool(self.server)


def pinning() -> Pinning:
    """Servers on the second CPU this process may use, wrk on the first; unpinned if impossible."""
    cpus = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None:
        return Pinning((), (), "unpinned (taskset is not installed)")
    if len(cpus) < 2:
        return Pinning((), (), "unpinned (only one CPU)")
    server, load = cpus[1], cpus[0]
    return Pinning(
        ("taskset", "-c", str(server)),
        ("taskset", "-c", str(load)),
        f"servers pinned to CPU {server}, wrk to CPU {load} (taskset)",
        server_cpu=server,
    )


def machine_line(pins: Pinning) -> str:
    """The facts a reader needs to compare this run with another."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: the model is a nicety, the numbers still stand
    return (
        f"Machine: {model}, {os.cpu_count()} CPUs, Python {platform.python_version()} "
        f"({platform.python_implementation()}); {pins.description}"
    )


@dataclass(frozen=True)
class WrkRun:
    requests: int
    rate: float


def wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    script: str | None = None,
    pin: Sequence[str] = (),
) -> WrkRun:
    """Requests completed and requests per second wrk measured against ``url``."""
    command = [*pin, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    if script is not None:
        command += ["-s", script]
    done = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 30, check=True)
    rate, requests = _RATE.search(done.stdout), _REQUESTS.search(done.stdout)
    if rate is None or requests is None:
        raise RuntimeError(f"wrk printed no rate:\n{done.stdout}\n{done.stderr}")
    # An app answering with errors is not the contender being measured: stop, do not rank it.
    failed = _NON_2XX.search(done.stdout)
    if failed is not None:
        raise RuntimeError(f"{url} answered {failed.group(1)} requests with an error:\n{done.stdout}")
    return WrkRun(requests=int(requests.group(1)), rate=float(rate.group(1)))


def measure_once(server: ServerProcess, load: Load, pins: Pinning) -> Sample:
    """One wrk run: requests per second, and the server's CPU µs per request, with the CPU's
    speed probed just before and just after."""
    # Read the tree each time: a server that replaced a worker must not be half-counted.
    pids = process_tree(server.pid)
    probe = speed_probe(pins.server_cpu)
    before = cpu_seconds(pids)
    run = wrk(server.base_url + "/", seconds=load.seconds, connections=load.connections, pin=pins.load)
    used = cpu_seconds(pids) - before
    probe = (probe + speed_probe(pins.server_cpu)) / 2
    return Sample(rate=run.rate, cpu_us=used / max(run.requests, 1) * 1e6, probe=probe)


def round_orders(names: Sequence[str], rounds: int) -> Iterator[list[str]]:
    """Each round's order: rotated one place per round, reversed every other round, so no
    contender always runs first (after a pause) or right after the same neighbour."""
    for number in range(rounds):
        shift = number % len(names)
        order = [*names[shift:], *names[:shift]]
        yield order[::-1] if number % 2 else order


@dataclass(frozen=True)
class Contender:
    """One row: an app of :mod:`bench.server_apps`, served by one build's interpreter."""

    name: str
    attribute: str
    build: Build | None = None  # None: the bench's own interpreter, in the checkout


def is_gatewatch(attribute: str) -> bool:
    return attribute.startswith(("asgi_gatewatch", "wsgi_gatewatch"))


def contenders_for(table: dict[str, str], builds: Sequence[Build]) -> list[Contender]:
    """gatewatch's rows once per build, named after it; the bare app, the floor and the peers
    once, under the first build (the same packages as every build: bench.builds)."""
    rows = []
    for name, attribute in table.items():
        if is_gatewatch(attribute):
            rows += [Contender(f"{name} [{build.tag}]", attribute, build) for build in builds]
        else:
            rows.append(Contender(name, attribute, builds[0] if builds else None))
    return rows


def server_process(
    interface: str, attribute: str, port: int, pins: Pinning, build: Build | None = None
) -> ServerProcess:
    app = f"bench.server_apps:{attribute}"
    if interface == "asgi":
        command = uvicorn_command(app, port, "--loop", "uvloop", "--http", "httptools", "--no-access-log")
    else:
        command = gunicorn_command(app, port, "-w", "1", "-k", "sync")
    cwd = ROOT
    if build is not None:
        # The build's interpreter, in its directory: the server puts its working directory first
        # on sys.path, and the checkout's gatewatch there would shadow the build's wheel.
        command[0], cwd = build.python, build.cwd
    # taskset execs the server: the PID that ServerProcess stops is the server's own.
    server = ServerProcess([*pins.server, *command], port=port, ready_path="/", cwd=cwd)
    if build is not None:
        server.env = build.env(server.env)
    # Single-process numbers: no multiprocess directory, no snapshot files.
    for name in ("PROMETHEUS_MULTIPROC_DIR", "GATEWATCH_LIVE_DIR"):
        server.env.pop(name, None)
    return server


def throughput(interface: str, contenders: Sequence[Contender], load: Load, pins: Pinning) -> Measurement:
    """Every contender's samples in every round, all servers up, rounds interleaved."""
    samples = {one.name: Samples() for one in contenders}
    with ExitStack() as servers:
        # One after another: each takes its port before the next asks for a free one.
        running = {
            one.name: servers.enter_context(
                server_process(interface, one.attribute, free_port(), pins, one.build)
            )
            for one in contenders
        }
        if load.warmup:
            for server in running.values():
                wrk(server.base_url + "/", seconds=load.warmup, connections=load.connections, pin=pins.load)
        started, stalled = time.monotonic(), pressure_stalled_us()
        for order in round_orders(list(running), load.rounds):
            for name in order:
                samples[name].runs.append(measure_once(running[name], load, pins))
        elapsed, stalled_after = time.monotonic() - started, pressure_stalled_us()
    pressure = None if stalled is None or stalled_after is None else (stalled_after - stalled) / 1e6 / elapsed
    return Measurement(samples, pressure)


def _title(server: str, load: Load, pins: Pinning) -> str:
    plural = "s" if load.rounds > 1 else ""
    rounds = f"{load.rounds} interleaved round{plural} of {load.seconds} s, medians"
    title = f"{server}, wrk -t1 -c{load.connections}, {rounds}"
    if not pins.pinned:
        title += f" [{pins.description}]"
    if load == QUICK:
        title += " [--quick: not a measurement]"
    return title


def run(load: Load, builds: Sequence[Build], *, memory_requests: int) -> list[str]:
    """Both tables, gatewatch's rows once per build, and the targets; then the memory run."""
    if shutil.which("wrk") is None:
        return ["Server level: skipped, wrk is not installed (Debian: apt-get install wrk)."]
    pins = pinning()
    lines = [machine_line(pins), ""]
    asgi = throughput("asgi", contenders_for(ASGI_CONTENDERS, builds), load, pins)
    lines += throughput_table(
        _title("ASGI: Starlette hello world, uvicorn (uvloop, httptools, 1 worker)", load, pins), asgi
    )
    wsgi = throughput("wsgi", contenders_for(WSGI_CONTENDERS, builds), load, pins)
    lines += [
        "",
        *throughput_table(_title("WSGI: Flask hello world, gunicorn (1 sync worker)", load, pins), wsgi),
        "",
        "share of bare = requests/s over the bare app's; CPU µs/request = the server's CPU time per request,",
        "scaled to the run's typical CPU speed; share by CPU = the bare app's CPU µs/request over the",
        "contender's; spread = interquartile range / median over the rounds; [pure] and [compiled]:",
        "gatewatch's wheel of each build, installed (bench.builds); the other rows under the first.",
        "",
        *server_targets(asgi, wsgi, builds, quick=load == QUICK),
    ]
    if memory_requests:
        # Imported here: the memory run loads its server with this module's wrk and servers.
        from bench.memory_bench import memory_run

        lines += ["", *memory_run(memory_requests, pins)]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m bench.server_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="one short round: a smoke run, not a measurement"
    )
    parser.add_argument("--memory-requests", type=int, default=MEMORY_REQUESTS)
    args = parser.parse_args(argv)
    load = QUICK if args.quick else Load()
    builds, log = prepare()
    print(
        "\n".join([*log, "", *run(load, builds, memory_requests=0 if args.quick else args.memory_requests)])
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
