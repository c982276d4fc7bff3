"""The memory run of the server-level benchmark: one uvicorn worker, 1 000 route templates.

About 200 000 requests spread evenly over 1 000 templates (``max_routes=2000``), with the
server's resident memory read after each quarter, then the series a scrape shows.
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

import httpx

from bench.server_bench import Pinning, server_process, wrk
from gatewatch.demo.servers import free_port
from gatewatch.demo.text_table import text_table

_ROUTES_SCRIPT = """request = function()
  n = (n or 0) + 1
  return wrk.format("GET", "/r/" .. (n % 1000))
end
"""


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def memory_run(total: int, pins: Pinning, *, checkpoints: int = 4, connections: int = 32) -> list[str]:
    """Resident memory after each quarter of ``total`` requests over 1 000 routes, then the
    series a scrape shows, twice. Scrapes come last: one of ~94 000 series builds tens of MiB
    of short-lived objects that the allocator keeps, which is the scrape's cost, not growth."""
    port = free_port()
    rows = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        server_process("asgi", "asgi_thousand_routes", port, pins) as server,
    ):
        script = Path(scratch) / "routes.lua"
        script.write_text(_ROUTES_SCRIPT)
        url = server.base_url + "/"
        load = partial(wrk, url, connections=connections, script=str(script), pin=pins.load)
        sent = 0
        for step in range(checkpoints):
            # wrk runs for a time, not a count: size each step from the rate measured so far.
            first = load(seconds=1)
            sent += first.requests
            remaining = total * (step + 1) // checkpoints - sent
            if remaining > 0:
                sent += load(seconds=max(round(remaining / first.rate), 1)).requests
            rows.append((f"{sent:,}", f"{_rss_kib(server.pid) / 1024:.1f}", "-"))
        for _ in range(2):
            text = httpx.get(server.base_url + "/metrics", timeout=30).text
            series = sum(1 for line in text.splitlines() if line.startswith("gatewatch_"))
            rows.append(("a scrape", f"{_rss_kib(server.pid) / 1024:.1f}", f"{series:,}"))
    header = ("requests sent", "resident MiB", "gatewatch series")
    return ["Memory: uvicorn, 1 000 route templates, requests spread evenly", *text_table(header, rows)]
