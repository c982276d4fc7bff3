"""Instructions per request, counted by valgrind's callgrind: a measure the machine cannot blur.

Timings on a shared VM move by 10-30 % from one second to the next, more than the difference
between close contenders. The number of machine instructions the interpreter executes for a
request does not: callgrind counts them exactly, run after run (with a fixed hash seed). Each
contender's app is served ``FEW`` and then ``MANY`` times in process (as :mod:`bench.cases`
serves it, after a warm-up), each in its own ``valgrind --tool=callgrind`` run, and the
difference divided by ``MANY - FEW`` is its cost per request, free of start-up and import.

Instructions are not seconds: a system call (``thread_time()``, a lock that waits) costs far more
than its few user-space instructions, and cache misses are not counted. Read this with the
server-level table, which has both. gatewatch's loop watch and its live snapshot writer are
off here: their work is per second, not per request, and under valgrind's fifty-fold slowdown
it would be charged to the requests.

``python -m bench.instructions`` (valgrind from Debian: ``apt-get install valgrind``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gatewatch.demo.text_table import text_table

FEW, MANY = 400, 1600
# Counted twice to show the count is exact: it must not move by more than this share.
_REPEATED, EXACT = "WSGI bare Flask", 0.001
_COLLECTED = re.compile(r"Collected : (\d+)")
# gatewatch in process without its loop watch (see the module docstring).
_NO_LOOP_WATCH = {"loop_lag_interval": None, "block_threshold": None}

# name -> (interface, builder in bench.server_apps or a JSON of GatewatchASGI/WSGI options).
CONTENDERS: dict[str, tuple[str, str]] = {
    "ASGI bare Starlette": ("asgi", "asgi_bare"),
    "ASGI floor: hand-written prometheus-client": ("asgi", "asgi_floor"),
    "ASGI gatewatch": ("asgi", json.dumps(_NO_LOOP_WATCH)),
    "ASGI gatewatch, cpu_time and live view off": (
        "asgi",
        json.dumps({**_NO_LOOP_WATCH, "cpu_time": False, "live_path": None}),
    ),
    "ASGI starlette-exporter": ("asgi", "asgi_starlette_exporter"),
    "WSGI bare Flask": ("wsgi", "wsgi_bare"),
    "WSGI floor: hand-written prometheus-client": ("wsgi", "wsgi_floor"),
    "WSGI gatewatch": ("wsgi", "{}"),
}


def _app(interface: str, spec: str) -> Any:
    from prometheus_client.registry import CollectorRegistry

    from bench import server_apps
    from bench.apps import starlette_hello
    from gatewatch import GatewatchASGI, GatewatchWSGI

    if not spec.startswith("{"):
        return getattr(server_apps, spec)
    options = json.loads(spec)
    if interface == "asgi":
        return GatewatchASGI(starlette_hello(), registry=CollectorRegistry(), **options)
    return GatewatchWSGI(server_apps.flask_hello(), registry=CollectorRegistry(), **options)


def _serve(interface: str, app: Any) -> Callable[[int], None]:
    from bench.cases import asgi_case, wsgi_case

    if interface == "asgi":
        return asgi_case(interface, app, asyncio.new_event_loop()).run
    return wsgi_case(interface, app).run


def child(interface: str, spec: str, requests: int) -> None:
    """Run inside valgrind: warm up, then serve ``requests`` requests."""
    import logging
    import random

    from gatewatch.export.live import snapshot_files

    logging.getLogger("gatewatch").setLevel(logging.ERROR)
    # The live snapshot's writer thread works by the clock (every half second), not per request:
    # under valgrind's slowdown a longer run would pay for more of its wake-ups. Like the loop
    # watch, it is off here (its cost per write is measured apart: docs/benchmarks.md).
    snapshot_files.WRITE_INTERVAL = 24 * 3600.0
    # Which requests have their CPU time sampled is drawn at random (gatewatch._cpu_sampling):
    # seeded, so that the count stays exact run after run.
    random.seed(0)
    serve = _serve(interface, _app(interface, spec))
    serve(100)
    serve(requests)


def count(interface: str, spec: str, requests: int) -> int:
    """Instructions of a whole run: start-up, a warm-up, then ``requests`` requests."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "bench.instructions",
        "--child",
        interface,
        spec,
        str(requests),
    ]
    # A fixed hash seed: with a random one, dict and set layouts (and so their probes) differ
    # from run to run by about 1 % of the count.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True, env=env)
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_request(interface: str, spec: str, *, few: int = FEW, many: int = MANY) -> float:
    """Instructions one request costs: the difference of a long and a short run, per request."""
    return (count(interface, spec, many) - count(interface, spec, few)) / (many - few)


def run(workers: int = 2) -> list[str]:
    if shutil.which("valgrind") is None:
        return ["Instructions: skipped, valgrind is not installed (Debian: apt-get install valgrind)."]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        runs = {
            (name, requests): pool.submit(count, *contender, requests)
            for name, contender in CONTENDERS.items()
            for requests in (FEW, MANY)
        }
        # The instrument's own check: the same run counted again must give the same count, or
        # the differences below are noise (a random hash seed, a clock-driven thread).
        repeat = pool.submit(count, *CONTENDERS[_REPEATED], MANY)
        totals = {key: future.result() for key, future in runs.items()}
        again = repeat.result()
    first = totals[_REPEATED, MANY]
    if abs(again - first) > EXACT * first:
        raise RuntimeError(f"callgrind counted one run {first} and then {again} instructions: not exact")
    counts = {name: (totals[name, MANY] - totals[name, FEW]) / (MANY - FEW) for name in CONTENDERS}
    rows = []
    for interface, bare, floor in (
        ("asgi", "ASGI bare Starlette", "ASGI floor: hand-written prometheus-client"),
        ("wsgi", "WSGI bare Flask", "WSGI floor: hand-written prometheus-client"),
    ):
        floor_overhead = counts[floor] - counts[bare]
        # Every middleware does some work per request: one counted at or below the bare app
        # means the count did not see it (a cached app, a request that never reached it).
        unseen = [
            name
            for name, (kind, _) in CONTENDERS.items()
            if kind == interface and name != bare and counts[name] <= counts[bare]
        ]
        if unseen:
            raise RuntimeError(f"no more instructions than {bare}: {unseen}")
        for name, (kind, _) in CONTENDERS.items():
            if kind != interface:
                continue
            overhead = counts[name] - counts[bare]
            rows.append(
                (
                    name,
                    f"{counts[name] / 1000:,.1f}",
                    "-" if name == bare else f"{overhead / 1000:+,.1f}",
                    "-" if name == bare else f"{overhead / floor_overhead:.2f}x",
                )
            )
    header = ("case", "k instructions/request", "overhead k", "vs floor")
    title = f"Instructions per request in process (callgrind; {MANY} - {FEW} requests; loop watch off)"
    exact = f"The same run ({_REPEATED}, {MANY} requests) counted twice: {first:,} and {again:,}."
    return [title, *text_table(header, rows), exact]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        interface, spec, requests = args[1:4]
        child(interface, spec, int(requests))
        return 0
    print("\n".join(run()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
