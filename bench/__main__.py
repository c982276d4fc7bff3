"""``python -m bench``: per-request cost of gatewatch and its alternatives, in-process.

No network and no server: each app is called directly (ASGI in an asyncio loop with a
prebuilt scope, WSGI with a minimal environ) many times; each round times a batch
with ``time.perf_counter`` and the table shows the median over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
from collections.abc import Sequence

from bench import websocket_bench
from bench.cases import BARE, FLOOR, asgi_cases, wsgi_cases
from bench.harness import Timing, measure
from gatewatch.text_table import text_table

ROUNDS, TARGET = 9, 0.45  # about 45 s in all
QUICK_ROUNDS, QUICK_TARGET = 2, 0.02


def format_table(title: str, timings: Sequence[Timing]) -> list[str]:
    by_name = {t.name: t for t in timings}
    bare = by_name[BARE].per_request
    floor_overhead = by_name[FLOOR].per_request - bare
    header = ("case", "µs/request", "overhead µs", "vs floor", "spread µs", "batch")
    rows: list[tuple[str, ...]] = []
    for timing in timings:
        overhead = timing.per_request - bare
        if timing.name == BARE:
            over, ratio = "-", "-"
        else:
            over = f"{overhead * 1e6:.2f}"
            ratio = f"{overhead / floor_overhead:.2f}x" if floor_overhead > 0 else "n/a"
        rows.append((
            timing.name,
            f"{timing.per_request * 1e6:.2f}",
            over,
            ratio,
            f"{timing.spread * 1e6:.2f}",
            f"{timing.batch}",
        ))
    return [title, *text_table(header, rows)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few iterations: a smoke run, not a measurement")
    parser.add_argument("--rounds", type=int, default=None, help=f"rounds per case (default {ROUNDS})")
    args = parser.parse_args(argv)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else ROUNDS)
    target = QUICK_TARGET if args.quick else TARGET
    print(
        f"gatewatch bench: Python {platform.python_version()} ({sys.implementation.name}), "
        f"{rounds} rounds of ~{target:g} s per case, median per request"
        + (" [--quick: not a measurement]" if args.quick else ""),
        flush=True,
    )
    loop = asyncio.new_event_loop()
    try:
        asgi = measure(asgi_cases(loop), rounds=rounds, target=target)
    finally:
        loop.close()
    print("", *format_table("ASGI: hello-world Starlette app, called in-process on asyncio", asgi),
          sep="\n", flush=True)
    wsgi = measure(wsgi_cases(), rounds=rounds, target=target)
    print("", *format_table("WSGI: hello-world WSGI function, called in-process", wsgi), sep="\n")
    print(
        "\noverhead = µs/request - bare app; vs floor = overhead / the hand-written middleware's overhead."
    )
    print("\nWebSocket: raw ASGI echo app, per echoed message (inline: receive returns at once; "
          "loop: one event-loop turn per message, as under a server)", flush=True)
    print(*websocket_bench.format_rows(websocket_bench.run(quick=args.quick)), sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
