"""``python -m bench``: per-request cost of gatewatch and its alternatives, in-process.

No network and no server: each app is called directly (ASGI in an asyncio loop with a
prebuilt scope, WSGI with a minimal environ) many times; each round times a batch
with ``time.perf_counter`` and the table shows the median over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import sys
from collections.abc import Sequence

from bench import (
    builds,
    instructions,
    scrape,
    scrape_multiprocess,
    scrape_multiprocess_server,
    server_bench,
    websocket_bench,
)
from bench.cases import BARE, FLOOR, asgi_cases, wsgi_cases
from bench.django_cases import BARE_DJANGO, DJANGO_PROMETHEUS, django_wsgi_cases
from bench.harness import Timing, measure
from gatewatch.demo.text_table import text_table

ROUNDS, TARGET = 9, 0.45  # about 45 s for the ASGI and WSGI tables
DJANGO_TARGET = 0.35  # six Django cases: about 20 s more
QUICK_ROUNDS, QUICK_TARGET = 2, 0.02
DJANGO_RATIO = "vs django-prometheus"


def format_table(
    title: str,
    timings: Sequence[Timing],
    *,
    bare: str = BARE,
    reference: str = FLOOR,
    ratio_header: str = "vs floor",
) -> list[str]:
    """Rows of ``timings``: overhead over the ``bare`` case, and as a multiple of the
    ``reference`` case's overhead."""
    by_name = {t.name: t for t in timings}
    bare_time = by_name[bare].per_request
    reference_overhead = by_name[reference].per_request - bare_time
    header = ("case", "µs/request", "overhead µs", ratio_header, "spread µs", "batch")
    rows: list[tuple[str, ...]] = []
    for timing in timings:
        overhead = timing.per_request - bare_time
        if timing.name == bare:
            over, ratio = "-", "-"
        else:
            over = f"{overhead * 1e6:.2f}"
            ratio = f"{overhead / reference_overhead:.2f}x" if reference_overhead > 0 else "n/a"
        rows.append(
            (
                timing.name,
                f"{timing.per_request * 1e6:.2f}",
                over,
                ratio,
                f"{timing.spread * 1e6:.2f}",
                f"{timing.batch}",
            )
        )
    return [title, *text_table(header, rows)]


def format_django(title: str, timings: Sequence[Timing]) -> list[str]:
    return format_table(
        title, timings, bare=BARE_DJANGO, reference=DJANGO_PROMETHEUS, ratio_header=DJANGO_RATIO
    )


def _scrape(*, quick: bool, server: bool) -> int:
    """What a scrape costs at 10, 100 and 1 000 routes, beside the other exporters."""
    lines = scrape.run(scrape.QUICK if quick else scrape.Scale(), server=server)
    suffix = " [--quick: not a measurement]" if quick else ""
    print("", lines[0] + suffix, *lines[1:], sep="\n", flush=True)
    # Multiprocess mode under recycled workers: scrape CPU against the dead workers' files.
    rows = scrape_multiprocess.run(
        scrape_multiprocess.QUICK_DEAD if quick else scrape_multiprocess.DEAD,
        repeats=scrape_multiprocess.QUICK_REPEATS if quick else scrape_multiprocess.REPEATS,
    )
    print(
        "",
        "Multiprocess scrape CPU against recycled workers" + suffix,
        *scrape_multiprocess.format_rows(rows),
        sep="\n",
        flush=True,
    )
    if server and not quick:
        # Multiprocess mode in a real server: uvicorn --workers N at 1 000 routes.
        served = [scrape_multiprocess_server.run(workers, 1000) for workers in (2, 4)]
        print(
            "",
            "Multiprocess scrapes under uvicorn --workers N: loop holds in the scraped worker",
            *scrape_multiprocess_server.format_rows(served),
            sep="\n",
            flush=True,
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke run, not a measurement")
    parser.add_argument("--rounds", type=int, default=None, help=f"rounds per case (default {ROUNDS})")
    parser.add_argument(
        "--no-server", action="store_true", help="in-process tables only (no uvicorn/gunicorn/wrk)"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions per request with valgrind's callgrind (about 5 minutes more)",
    )
    parser.add_argument(
        "--scrape",
        action="store_true",
        help="the scrape part alone (python -m bench.scrape: about 3 minutes)",
    )
    parser.add_argument("--no-scrape", action="store_true", help="leave out the scrape part")
    args = parser.parse_args(argv)
    if args.scrape:
        return _scrape(quick=args.quick, server=not args.no_server)
    # A timed batch runs in one task that never yields: to gatewatch's watchdog that is
    # the loop blocked for the whole batch, and it says so at WARNING. True, but noise here.
    logging.getLogger("gatewatch").setLevel(logging.ERROR)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS)
    target = QUICK_TARGET if args.quick else TARGET
    print(
        f"gatewatch bench: Python {platform.python_version()} ({sys.implementation.name}), "
        f"{rounds} rounds of ~{target:g} s per case, median per request"
        + (" [--quick: not a measurement]" if args.quick else ""),
        flush=True,
    )
    # The in-process tables time the checkout as this interpreter imports it; the instruction
    # counts and the server level time both installed wheels (bench.builds).
    checkout = "compiled" if builds.is_compiled() else "pure Python"
    print(f"In-process tables: gatewatch from the checkout, {checkout}.", flush=True)
    loop = asyncio.new_event_loop()
    try:
        asgi = measure(asgi_cases(loop), rounds=rounds, target=target)
    finally:
        loop.close()
    print(
        "",
        *format_table("ASGI: hello-world Starlette app, called in-process on asyncio", asgi),
        sep="\n",
        flush=True,
    )
    wsgi = measure(wsgi_cases(), rounds=rounds, target=target)
    print("", *format_table("WSGI: hello-world WSGI function, called in-process", wsgi), sep="\n")
    print("\noverhead = µs/request - bare app; vs floor = overhead / the hand-written middleware's overhead.")
    django_target = QUICK_TARGET if args.quick else DJANGO_TARGET
    django = measure(django_wsgi_cases(), rounds=rounds, target=django_target)
    print(
        "",
        *format_django("Django under WSGI: hello view, WSGIHandler called in-process (no database)", django),
        sep="\n",
        flush=True,
    )
    print(
        f"\nDjango: overhead = µs/request - bare Django; {DJANGO_RATIO} = overhead / django-prometheus's "
        "overhead (the reference: the usual Django metrics middleware; no hand-written floor here)."
    )
    print(
        "\nWebSocket: raw ASGI echo app, per echoed message (inline: receive returns at once; "
        "loop: one event-loop turn per message, as under a server)",
        flush=True,
    )
    print(*websocket_bench.format_rows(websocket_bench.run(quick=args.quick)), sep="\n")
    both: list[builds.Build] = []
    if args.instructions or not args.no_server:
        both, log = builds.prepare()
        print("", "Builds (bench.builds): the wheels of the checkout, each in its venv", *log, sep="\n")
    if args.instructions:
        print("", *instructions.run(both, quick=args.quick), sep="\n", flush=True)
    if not args.no_scrape:
        _scrape(quick=args.quick, server=not args.no_server)
    if args.no_server:
        return 0
    print(
        "\nServer level: each contender under a real server on 127.0.0.1, loaded by wrk; all servers "
        "up at once, pinned, interleaved 1 s rounds; medians of requests/s and of the server's "
        "CPU time per request, each as a share of the bare app's"
        + (" [--quick: not a measurement]" if args.quick else ""),
        flush=True,
    )
    load = server_bench.QUICK if args.quick else server_bench.Load()
    memory = 0 if args.quick else server_bench.MEMORY_REQUESTS
    print(*server_bench.run(load, both, memory_requests=memory), sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
