"""Instructions per request, counted by valgrind's callgrind: a measure the machine cannot blur.

Timings on a shared VM move by 10-30 % from one second to the next, more than the difference
between close contenders. The number of machine instructions the interpreter executes for a
request does not: callgrind counts them exactly, run after run (with a fixed hash seed). Each
contender's app is served, after a warm-up, ``FEW`` and then ``MANY`` times in process (as
:mod:`bench.cases` serves it) in one ``valgrind --tool=callgrind`` run, which dumps its counts
at the end of each phase (the child calls ``getsid``; ``--dump-before=getsid``); the difference
of the two phases divided by ``MANY - FEW`` is the cost per request, free of start-up, import
and whatever a phase pays once. One run per contender, not two: start-up under valgrind is most
of the wait.

gatewatch's rows run once per build (:mod:`bench.builds`: the pure and the mypyc-compiled
wheel, each installed in its venv), and each checks, before it is counted, that it imports the
build it is named after; the bare app, the floor and the peers run once, under the first build's
interpreter (the same packages as the other's).

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
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import targets as bench_targets
from bench.builds import Build, prepare
from gatewatch.demo.text_table import text_table

FEW, MANY = 400, 1600
QUICK_FEW, QUICK_MANY = 30, 90  # --quick: a smoke run of the same commands, not a measurement
# Counted twice to show the count is exact: it must not move by more than this share.
_REPEATED, EXACT = "WSGI bare Flask", 0.001
_TOTALS = re.compile(r"^(?:totals|summary):\s+(\d+)", re.MULTILINE)
# gatewatch in process without its loop watch (see the module docstring).
_NO_LOOP_WATCH = {"loop_lag_interval": None, "block_threshold": None}
ASGI_BARE, ASGI_FLOOR = "ASGI bare Starlette", "ASGI floor: hand-written prometheus-client"
ASGI_GATEWATCH, ASGI_SPANS = "ASGI gatewatch", "ASGI gatewatch, OpenTelemetry spans + metrics"
ASGI_CONTRIB, ASGI_ONE_SPAN = "ASGI OpenTelemetry contrib", "ASGI OpenTelemetry contrib, one span"
WSGI_BARE, WSGI_FLOOR, WSGI_GATEWATCH = (
    "WSGI bare Flask",
    "WSGI floor: hand-written prometheus-client",
    "WSGI gatewatch",
)

# name -> (interface, builder in bench.server_apps or a JSON of GatewatchASGI/WSGI options).
# gatewatch's rows (a JSON of options) are counted once per build; the others once.
CONTENDERS: dict[str, tuple[str, str]] = {
    ASGI_BARE: ("asgi", "asgi_bare"),
    ASGI_FLOOR: ("asgi", "asgi_floor"),
    ASGI_GATEWATCH: ("asgi", json.dumps(_NO_LOOP_WATCH)),
    "ASGI gatewatch, cpu_time and live view off": (
        "asgi",
        json.dumps({**_NO_LOOP_WATCH, "cpu_time": False, "live_path": None}),
    ),
    "ASGI starlette-exporter": ("asgi", "asgi_starlette_exporter"),
    ASGI_SPANS: ("asgi", json.dumps({**_NO_LOOP_WATCH, "otel": True})),
    ASGI_CONTRIB: ("asgi", "asgi_otel"),
    ASGI_ONE_SPAN: ("asgi", "asgi_otel_one_span"),
    WSGI_BARE: ("wsgi", "wsgi_bare"),
    WSGI_FLOOR: ("wsgi", "wsgi_floor"),
    WSGI_GATEWATCH: ("wsgi", "{}"),
}


def is_gatewatch(spec: str) -> bool:
    return spec.startswith("{")


def _app(interface: str, spec: str) -> Any:
    from prometheus_client.registry import CollectorRegistry

    from bench import server_apps
    from bench.apps import starlette_hello
    from bench.cases import _otel_providers
    from gatewatch import GatewatchASGI, GatewatchWSGI

    if not is_gatewatch(spec):
        return getattr(server_apps, spec)
    options = json.loads(spec)
    if options.get("otel"):
        # The same providers as the contrib rows: spans recorded and dropped, metrics in memory.
        options["tracer_provider"], options["meter_provider"] = _otel_providers()
    if interface == "asgi":
        return GatewatchASGI(starlette_hello(), registry=CollectorRegistry(), **options)
    return GatewatchWSGI(server_apps.flask_hello(), registry=CollectorRegistry(), **options)


def _serve(interface: str, app: Any) -> Callable[[int], None]:
    from bench.cases import asgi_case, wsgi_case

    if interface == "asgi":
        return asgi_case(interface, app, asyncio.new_event_loop()).run
    return wsgi_case(interface, app).run


def check_build(expected: str) -> None:
    """Stop unless the gatewatch imported here is the build the row is named after."""
    import gatewatch
    from bench.builds import is_compiled

    found = "compiled" if is_compiled() else "pure"
    if found != expected:
        raise SystemExit(f"expected the {expected} build, imported a {found} one: {gatewatch.__file__}")


def mark() -> None:
    """A phase's end: callgrind dumps its counts on entering getsid (``--dump-before``), a
    libc call that nothing else here makes."""
    os.getsid(0)


def child(interface: str, spec: str, phases: Sequence[int], expected: str | None = None) -> None:
    """Run inside valgrind: warm up, then serve each phase's requests, a dump after each."""
    import logging
    import random

    from gatewatch.export.live import snapshot_files

    if expected is not None:
        check_build(expected)
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
    mark()
    for requests in phases:
        serve(requests)
        mark()


@dataclass(frozen=True)
class Row:
    """One line of the table: a contender, under one build (gatewatch's) or the peers' one."""

    name: str
    interface: str
    spec: str
    build: Build

    @property
    def expected(self) -> str | None:
        if not is_gatewatch(self.spec):
            return None
        return "compiled" if self.build.compiled else "pure"


def rows_for(builds: Sequence[Build]) -> list[Row]:
    """gatewatch's contenders once per build, named after it; the others once, in the first."""
    rows = []
    for name, (interface, spec) in CONTENDERS.items():
        if not is_gatewatch(spec):
            rows.append(Row(name, interface, spec, builds[0]))
            continue
        rows += [Row(f"{name} [{build.tag}]", interface, spec, build) for build in builds]
    return rows


def count(row: Row, few: int, many: int) -> tuple[int, int]:
    """Instructions of ``few`` and then of ``many`` requests, in one process under callgrind
    (start-up and warm-up apart): each phase ends with a dump of the counts since the last."""
    child_args = ["--child", row.interface, row.spec, f"{few},{many}"]
    if row.expected is not None:
        child_args.append(row.expected)
    with tempfile.TemporaryDirectory(prefix="gatewatch-callgrind-") as scratch:
        out = Path(scratch) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "--dump-before=getsid",
            *row.build.command("-m", "bench.instructions", *child_args),
        ]
        # A fixed hash seed: with a random one, dict and set layouts (and so their probes)
        # differ from run to run by about 1 % of the count.
        env = {**row.build.env(), "PYTHONHASHSEED": "0"}
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=900, check=False, env=env, cwd=row.build.cwd
        )
        if done.returncode != 0:
            raise RuntimeError(f"{row.name}: the callgrind run failed:\n{done.stderr[-3000:]}")
        # callgrind.out.1 ends the start-up and warm-up, .2 the few, .3 the many; then the exit's.
        dumps = sorted(out.parent.glob(f"{out.name}.*"), key=lambda path: int(path.suffix[1:]))
        totals = [_total(path) for path in dumps]
    if len(totals) != 3:
        raise RuntimeError(
            f"{row.name}: {len(totals)} dumps where 3 were due (something else called getsid?)"
        )
    return totals[1], totals[2]


def _total(dump: Path) -> int:
    found = _TOTALS.search(dump.read_text(errors="replace"))
    if found is None:
        raise RuntimeError(f"no totals in {dump}")
    return int(found.group(1))


@dataclass(frozen=True)
class Counts:
    """Instructions per request of every row, and the repeated run's two counts."""

    per_request: dict[str, float]
    rows: list[Row]
    repeated: tuple[int, int]
    few: int
    many: int

    def overhead(self, name: str, bare: str) -> float:
        return self.per_request[name] - self.per_request[bare]


def measure(builds: Sequence[Build], *, few: int = FEW, many: int = MANY, workers: int = 2) -> Counts:
    rows = rows_for(builds)
    _compile_bench()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # The slow ones (OpenTelemetry's) first, so that the pool does not end on one of them.
        ordered = sorted(rows, key=lambda row: "otel" not in row.spec and "OpenTelemetry" not in row.name)
        runs = {row.name: pool.submit(count, row, few, many) for row in ordered}
        # The instrument's own check: the same run counted again must give the same count, or
        # the differences below are noise (a random hash seed, a clock-driven thread).
        (repeated_row,) = [row for row in rows if row.name == _REPEATED]
        repeat = pool.submit(count, repeated_row, few, many)
        totals = {name: future.result() for name, future in runs.items()}
        _, again = repeat.result()
    first = totals[_REPEATED][1]
    if abs(again - first) > EXACT * first:
        raise RuntimeError(f"callgrind counted one run {first} and then {again} instructions: not exact")
    per_request = {name: (totals[name][1] - totals[name][0]) / (many - few) for name in totals}
    return Counts(per_request, rows, (first, again), few, many)


def _compile_bench() -> None:
    """The bench's own modules compiled once, before any count: with PYTHONDONTWRITEBYTECODE
    (as here) every child would compile them again under valgrind, the slowest part of its
    start-up (start-up is not counted, but it is waited for)."""
    import compileall

    compileall.compile_dir(str(Path(__file__).parent), quiet=1)


def table(counts: Counts) -> list[str]:
    lines = []
    table_rows = []
    for interface, bare, floor in (("asgi", ASGI_BARE, ASGI_FLOOR), ("wsgi", WSGI_BARE, WSGI_FLOOR)):
        floor_overhead = counts.overhead(floor, bare)
        names = [row.name for row in counts.rows if row.interface == interface]
        # Every middleware does some work per request: one counted at or below the bare app
        # means the count did not see it (a cached app, a request that never reached it).
        unseen = [
            name for name in names if name != bare and counts.per_request[name] <= counts.per_request[bare]
        ]
        if unseen:
            raise RuntimeError(f"no more instructions than {bare}: {unseen}")
        for name in names:
            overhead = counts.overhead(name, bare)
            table_rows.append(
                (
                    name,
                    f"{counts.per_request[name] / 1000:,.1f}",
                    "-" if name == bare else f"{overhead / 1000:+,.1f}",
                    "-" if name == bare else f"{overhead / floor_overhead:.2f}x",
                )
            )
    header = ("case", "k instructions/request", "overhead k", "vs floor")
    title = (
        f"Instructions per request in process (callgrind; {counts.many} - {counts.few} requests; "
        "loop watch off; each gatewatch row from its installed wheel)"
    )
    first, again = counts.repeated
    exact = f"The same run ({_REPEATED}, {counts.many} requests) counted twice: {first:,} and {again:,}."
    lines += [title, *text_table(header, table_rows), exact]
    return lines


def targets(counts: Counts, builds: Sequence[Build]) -> list[str]:
    """Issue 30's in-process targets, per build: met or not, with the figure."""
    lines = ["Targets (issue 30), instructions in process:"]
    for build in builds:
        tag = f"[{build.tag}]"
        for interface, bare, floor, gatewatch in (
            ("ASGI", ASGI_BARE, ASGI_FLOOR, ASGI_GATEWATCH),
            ("WSGI", WSGI_BARE, WSGI_FLOOR, WSGI_GATEWATCH),
        ):
            vs_floor = counts.overhead(f"{gatewatch} {tag}", bare) / counts.overhead(floor, bare)
            lines.append(bench_targets.instructions_line(build.tag, interface, vs_floor))
        spans = counts.overhead(f"{ASGI_SPANS} {tag}", ASGI_BARE)
        contrib, one_span = (
            counts.overhead(ASGI_CONTRIB, ASGI_BARE),
            counts.overhead(ASGI_ONE_SPAN, ASGI_BARE),
        )
        lines.append(bench_targets.spans_line(build.tag, spans / contrib, spans / one_span))
    return lines


def run(builds: Sequence[Build] | None = None, *, quick: bool = False, workers: int = 2) -> list[str]:
    if shutil.which("valgrind") is None:
        return ["Instructions: skipped, valgrind is not installed (Debian: apt-get install valgrind)."]
    if builds is None:
        builds, _ = prepare()
    few, many = (QUICK_FEW, QUICK_MANY) if quick else (FEW, MANY)
    counts = measure(builds, few=few, many=many, workers=workers)
    lines = table(counts)
    if quick:
        lines[0] += " [--quick: not a measurement]"
    checked = targets(counts, builds)
    if quick:
        checked[0] += " [--quick: not a measurement]"
    return [*lines, "", *checked]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        interface, spec, phases, *expected = args[1:5]
        child(interface, spec, [int(n) for n in phases.split(",")], *expected)
        return 0
    quick = "--quick" in args
    builds, log = prepare()
    print("\n".join([*log, "", *run(builds, quick=quick)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
