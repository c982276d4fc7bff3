"""``python -m bench.scrape``: what a scrape of ``/metrics`` costs, at 10, 100 and 1 000 routes.

The same Starlette app with N routes (``/r{i}/{item_id}``), every route requested first, is
instrumented by each peer: gatewatch (``GatewatchASGI`` with its defaults and ``metrics_path``),
prometheus-client (the hand-written middleware of ``bench.apps``, the floor, beside
prometheus-client's own ASGI exposition), starlette-exporter and
prometheus-fastapi-instrumentator (on the Starlette app: it instruments any Starlette app).

* **Render**, in process (``bench.scrape_render``, a child process per peer and route count,
  as each registers on the global registry): CPU per scrape (median; all threads, and the loop
  thread's share), bytes (text, gzip), series (parsed with prometheus-client's parser), CPU
  per series, and the same for OpenMetrics where the peer serves it.
* **Loop hold**, in a real uvicorn (``bench.scrape_server``): the longest and the 99th
  percentile latency of small requests sent one after another while a scraper scrapes
  ``/metrics`` back to back, beside the same server before any scrape.

``--markdown`` prints the tables as Markdown for ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TypeVar

from bench.scrape_apps import FLOOR, GATEWATCH, GATEWATCH_BY_PC, PEERS, RENDER_PEERS
from bench.scrape_render import REQUESTS_PER_ROUTE, Render
from bench.scrape_server import PAUSE, UNSET, Hold, loop_hold
from bench.server_bench import ROOT, Pinning, machine_line, pinning
from gatewatch.demo.text_table import text_table

ROUTES = (10, 100, 1000)
DOCS = ROOT / "docs" / "benchmarks.md"
# The recorded run in the docs lies between these (python -m bench.scrape --update-docs).
DOCS_BEGIN = "<!-- recorded by python -m bench.scrape --update-docs: begin -->"
DOCS_END = "<!-- recorded by python -m bench.scrape --update-docs: end -->"
T = TypeVar("T")
_VERSIONED = (
    "gatewatch",
    "prometheus-client",
    "starlette-exporter",
    "prometheus-fastapi-instrumentator",
    "starlette",
    "uvicorn",
)


@dataclass(frozen=True)
class Scale:
    routes: Sequence[int] = ROUTES
    scrapes: int = 5  # timed in-process scrapes per format (the median is shown)
    hold_scrapes: int = 3  # the uvicorn scraper's least scrapes ...
    hold_seconds: float = 1.5  # ... and least seconds; also the bare probe's seconds


QUICK = Scale(routes=(10,), scrapes=1, hold_scrapes=1, hold_seconds=0.3)


def _env() -> dict[str, str]:
    # Single-process numbers, and no coverage tracing of a timing run.
    return {name: value for name, value in os.environ.items() if name not in UNSET}


def render(peer: str, routes: int, scrapes: int, pins: Pinning) -> Render:
    """One peer's scrapes measured in a child process of its own, on the servers' CPU."""
    command = [*pins.server, sys.executable, "-m", "bench.scrape_render", peer, str(routes), str(scrapes)]
    done = subprocess.run(
        command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{peer} at {routes} routes failed:\n{done.stderr}")
    return Render(**json.loads(done.stdout))


def renders(scale: Scale, pins: Pinning, peers: Sequence[str] = RENDER_PEERS) -> list[Render]:
    return [render(peer, routes, scale.scrapes, pins) for routes in scale.routes for peer in peers]


def holds(scale: Scale, pins: Pinning, peers: Sequence[str] = PEERS) -> list[Hold]:
    return [
        loop_hold(
            peer,
            routes,
            pins,
            bare_seconds=scale.hold_seconds,
            scrapes=scale.hold_scrapes,
            min_seconds=scale.hold_seconds,
        )
        for routes in scale.routes
        for peer in peers
    ]


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool) -> list[str]:
    """Plain text as the rest of the bench prints, or Markdown (first column left-aligned)."""
    if not markdown:
        return text_table(header, rows)
    rule = ["---", *("---:" for _ in header[1:])]
    return ["| " + " | ".join(row) + " |" for row in [header, rule, *rows]]


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:,.1f}"


def _kb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1000:,.1f}"


def _ratio(value: float, reference: float | None) -> str:
    return "-" if not reference else f"{value / reference:.2f}x"


def _floors(results: Sequence[T], routes: Callable[[T], int], peer: Callable[[T], str]) -> dict[int, T]:
    return {routes(result): result for result in results if peer(result) == FLOOR}


_RENDER_HEADER = (
    "peer",
    "routes",
    "series",
    "per route",
    "text KB",
    "gzip KB",
    "CPU ms",
    "CPU vs pc",
    "on loop ms",
    "µs/series",
    "per series vs pc",
    "gzip ms",
    "OpenMetrics ms",
)


def render_table(results: Sequence[Render], *, markdown: bool = False) -> list[str]:
    floors = _floors(results, lambda r: r.routes, lambda r: r.peer)
    rows = []
    for result in results:
        floor = floors.get(result.routes)
        per_series = result.cpu / result.series
        rows.append(
            (
                result.peer,
                f"{result.routes:,}",
                f"{result.series:,}",
                f"{result.route_series / result.routes:.0f}",
                _kb(result.plain_bytes),
                _kb(result.gzip_bytes),
                _ms(result.cpu),
                _ratio(result.cpu, floor.cpu if floor else None),
                _ms(result.loop_cpu),
                f"{per_series * 1e6:.2f}",
                _ratio(per_series, floor.cpu / floor.series if floor else None),
                _ms(result.gzip_cpu),
                _ms(result.openmetrics_cpu),
            )
        )
    return table(_RENDER_HEADER, rows, markdown=markdown)


def same_families(results: Sequence[Render]) -> list[str]:
    """gatewatch's render against prometheus-client's exposition of gatewatch's own families."""
    by_pc = {r.routes: r for r in results if r.peer == GATEWATCH_BY_PC}
    lines = []
    for result in results:
        reference = by_pc.get(result.routes)
        if result.peer != GATEWATCH or reference is None:
            continue
        ratios = []
        for name, cpu, reference_cpu in (
            ("text", result.cpu, reference.cpu),
            ("gzip", result.gzip_cpu, reference.gzip_cpu),
            ("OpenMetrics", result.openmetrics_cpu, reference.openmetrics_cpu),
        ):
            if cpu is not None and reference_cpu is not None:
                ratio = (cpu / result.series) / (reference_cpu / reference.series)
                ratios.append(f"{name} {ratio:.2f}x")
        lines.append(f"- {result.routes:,} routes: {', '.join(ratios)}")
    if not lines:
        return []
    return [
        "gatewatch's CPU per series over prometheus-client's exposition of the same families "
        "(issue 28's target: at most 0.25x):",
        "",
        *lines,
    ]


_HOLD_HEADER = (
    "peer",
    "routes",
    "scrapes",
    "scrape ms",
    "scrape KB",
    "bare longest ms",
    "bare p99 ms",
    "probes in scrapes",
    "longest ms",
    "p99 ms",
    "longest vs pc",
)


def hold_table(results: Sequence[Hold], *, markdown: bool = False) -> list[str]:
    floors = _floors(results, lambda r: r.routes, lambda r: r.peer)
    rows = []
    for result in results:
        floor = floors.get(result.routes)
        rows.append(
            (
                result.peer,
                f"{result.routes:,}",
                str(len(result.scrapes)),
                _ms(statistics.median(result.scrapes)),
                _kb(result.scrape_bytes),
                _ms(result.bare.longest),
                _ms(result.bare.p99),
                str(len(result.scraping.latencies)),
                _ms(result.scraping.longest),
                _ms(result.scraping.p99),
                _ratio(result.scraping.longest, floor.scraping.longest if floor else None),
            )
        )
    return table(_HOLD_HEADER, rows, markdown=markdown)


def versions() -> str:
    found = []
    for name in _VERSIONED:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def run(scale: Scale = Scale(), *, server: bool = True, markdown: bool = False) -> list[str]:
    """The scrape part's lines: the render table, then (``server``) the loop-hold table."""
    pins = pinning()
    routes = ", ".join(f"{count:,}" for count in scale.routes)
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Scrapes: {today}, commit {_commit()}; {machine_line(pins).replace('wrk to', 'clients to')}",
        f"Versions: {versions()}",
        "",
        f"Render, in process: {routes} routes, each requested {REQUESTS_PER_ROUTE} times at 200; "
        f"medians of {scale.scrapes} scrapes per format; pc = prometheus-client (the hand-written "
        "middleware, prometheus-client's exposition); CPU = every thread's, on loop = the loop thread's",
        "",
    ]
    rendered = renders(scale, pins)
    lines += [*render_table(rendered, markdown=markdown), "", *same_families(rendered)]
    if server:
        lines += [
            "",
            "Loop hold, uvicorn (uvloop, httptools, 1 worker): latency of small requests sent one after "
            f"another, bare = before any scrape ({scale.hold_seconds:g} s), then of those that overlapped a "
            f"scrape of /metrics, scraped again {PAUSE * 1e3:g} ms after each scrape (at least "
            f"{scale.hold_scrapes} scrapes and {scale.hold_seconds:g} s; Prometheus' Accept header, gzip); "
            "scrape ms = median as the scraper saw it",
            "",
            *hold_table(holds(scale, pins), markdown=markdown),
        ]
    return lines


def update_docs(lines: Sequence[str], path: Path = DOCS) -> None:
    """Put ``lines`` between the markers of ``path``'s recorded scrape run, replacing the last."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index(DOCS_BEGIN) + len(DOCS_BEGIN), text.index(DOCS_END)
    path.write_text(text[:start] + "\n" + "\n".join(lines) + "\n" + text[end:], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scrape",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="10 routes, one scrape: a smoke run")
    parser.add_argument(
        "--routes", type=int, nargs="+", default=None, help=f"route counts (default {ROUTES})"
    )
    parser.add_argument("--no-server", action="store_true", help="the in-process render table only")
    parser.add_argument("--markdown", action="store_true", help="Markdown tables (for docs/benchmarks.md)")
    parser.add_argument(
        "--update-docs", action="store_true", help="--markdown, and write the run into docs/benchmarks.md"
    )
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else Scale()
    if args.routes:
        scale = Scale(args.routes, scale.scrapes, scale.hold_scrapes, scale.hold_seconds)
    lines = run(scale, server=not args.no_server, markdown=args.markdown or args.update_docs)
    print("\n".join(lines))
    if args.update_docs:
        update_docs(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
