"""The live view's totals in process: the same numbers as the process's /metrics, with its
buckets; bounded block sites; stacks split at the application; encoded before the joined
parts, and again when (and only where) they changed; reset in a forked child."""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gatewatch import GatewatchWSGI, Monitor
from gatewatch.asgi import _stack_capture
from gatewatch.asgi._stack_capture import MAX_FRAMES, ReadStack, is_application_file, trimmed
from gatewatch.export.live._block_sites import MAX_SITES, OTHER_SITES, RECENT_PER_SITE
from gatewatch.export.live.schema import parse_process_snapshot
from gatewatch.export.live.state import LiveState
from gatewatch.record import RequestRecord
from tests.support.live_support import TOKEN, ok_wsgi
from tests.support.scrape import samples
from tests.support.wsgi_driver import call, make_environ

pytestmark = pytest.mark.usefixtures("no_snapshot_dir")

HOSTILE = "[bold]x[/][@click=app.quit]\x1b[2J\r\n"


def finish(monitor: Monitor, route: str, status: int = 200, interface: str = "wsgi") -> RequestRecord:
    record = monitor.start(interface, "GET", "/p")
    record.route = route
    record.status = status
    record.response_ended()
    monitor.finish(record, record.end)
    return record


def totals_of(state: LiveState) -> dict[str, Any]:
    snapshot = parse_process_snapshot(state.snapshot_json())
    totals: dict[str, Any] = dict(snapshot["totals"])
    return totals


def test_the_totals_use_the_buckets_of_the_metrics_page(registry: CollectorRegistry) -> None:
    app = GatewatchWSGI(ok_wsgi, registry=registry, buckets={"duration": [0.5, 2.0]}, live_token=TOKEN)
    state = app.runtime.live_state(app.monitor)
    for path in ("/a", "/a", "/b"):
        call(app, make_environ(path, HTTP_X_REQUEST_START=f"t={time.time():.3f}"))
    totals = totals_of(state)
    assert totals["duration_bounds"] == [0.5, 2.0]
    page = samples(generate_latest(registry).decode())
    [route] = [entry for entry in totals["routes"] if entry["route"] == "<unmatched>"]
    assert route["requests"] == 3 == sum(route["duration_buckets"])
    key = frozenset({"interface": "wsgi", "method": "GET", "route": "<unmatched>", "status": "200"}.items())
    for le, cumulative in zip(("0.5", "2.0", "+Inf"), (3, 3, 3), strict=True):
        bucket = ("gatewatch_http_request_duration_seconds_bucket", key | {("le", le)})
        assert page[bucket] == cumulative
    assert route["duration_sum"] == page["gatewatch_http_request_duration_seconds_sum", key]
    [interface] = totals["interfaces"]
    assert interface["concurrency_count"] == 3
    assert (
        interface["queue_count"]
        == page["gatewatch_http_request_queue_seconds_count", frozenset({("interface", "wsgi")})]
    )


def test_sites_are_bounded_and_route_totals_stay_exact() -> None:
    monitor = Monitor()
    state = LiveState(monitor)
    monitor.add_sink(state)
    for _ in range(RECENT_PER_SITE + 4):
        state.loop_block("/one", 0.07, ["/app/views.py:1 in view: work()"])
    state.loop_block("/one", 0.09, [])  # no stack read: a site of its own, ""
    for number in range(MAX_SITES + 30):
        state.loop_block("/many", 0.06, [f"/app/views.py:{number} in view: work()"])
    totals = totals_of(state)
    sites = {(site["route"], site["site"]): site for site in totals["block_sites"]}
    assert len([key for key in sites if key[1] != OTHER_SITES]) == MAX_SITES
    # /many had the room /one left: 98 sites listed, 32 blocks elsewhere.
    assert totals["block_sites_unlisted"] == 32 == sites["/many", OTHER_SITES]["count"]
    many = [site for key, site in sites.items() if key[0] == "/many"]
    assert sum(site["count"] for site in many) == MAX_SITES + 30
    assert sum(site["total"] for site in many) == pytest.approx(0.06 * (MAX_SITES + 30))
    one = sites["/one", "/app/views.py:1 in view"]
    assert one["count"] == RECENT_PER_SITE + 4 and len(one["recent"]) == RECENT_PER_SITE
    assert sites["/one", ""]["count"] == 1 and sites["/one", ""]["stack"] == []


def test_a_site_counts_its_blocks_and_keeps_the_last_stack() -> None:
    monitor = Monitor()
    state = LiveState(monitor)
    monitor.add_sink(state)
    stack = ReadStack(
        ["/app/views.py:7 in slow: sleep()"], ["/lib/server.py:1 in run: app()"], "/app/views.py:7 in slow"
    )
    state.loop_block("/slow", 0.2, stack)
    state.loop_block("/slow", 0.3, stack)
    [site] = totals_of(state)["block_sites"]
    assert (site["site"], site["count"], site["worst"]) == ("/app/views.py:7 in slow", 2, 0.3)
    assert site["total"] == pytest.approx(0.5)
    assert site["stack"] == list(stack) and site["outer_stack"] == stack.outer
    assert [pair[1] for pair in site["recent"]] == [0.2, 0.3] and site["last_at"] == site["recent"][-1][0]
    [_, block] = state.snapshot()["loop_blocks"]
    assert block["stack"] == list(stack) and block["outer_stack"] == stack.outer


def test_a_stack_is_split_at_the_application() -> None:
    read = trimmed(traceback.extract_stack())
    assert read.outer, "pytest's frames are above this test's"
    assert not any(is_application_file(line.split(":")[0]) for line in read.outer[-1:])
    whole = [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_stack()][:-1]
    assert [line.split(": ")[0] for line in read.outer + read][: len(whole)] == whole
    assert read.site.startswith(__file__) and read.site.endswith(
        "in test_a_stack_is_split_at_the_application"
    )
    assert len(read) <= MAX_FRAMES


def test_gatewatch_demo_apps_are_application_code() -> None:
    package = Path(_stack_capture.__file__).resolve().parent.parent
    assert is_application_file(str(package / "demo" / "live_demo.py"))
    assert not is_application_file(str(package / "_lifecycle.py"))
    assert not is_application_file(str(package / "asgi" / "middleware.py"))
    assert is_application_file(str(package.parent / "examples" / "starlette_app.py"))


def test_the_totals_come_before_the_joined_parts_and_follow_changes() -> None:
    monitor = Monitor()
    state = LiveState(monitor)
    monitor.add_sink(state)
    for number in range(100):
        finish(monitor, f"/r{number}")
    first = state.snapshot_json()
    # Before the joined parts (the last "recent" is theirs; the totals' sites have some too).
    assert first.index(b'"totals":') < first.rindex(b'"recent":') < first.index(b'"per_second":')
    # Built again from the parts kept: the same totals.
    assert json.loads(state.snapshot_json())["totals"] == json.loads(first)["totals"]
    finish(monitor, "/r57", 500)
    finish(monitor, "/r3")
    totals = totals_of(state)
    counts = {(e["route"], e["status"]): e["requests"] for e in totals["routes"]}
    assert counts["/r57", "500"] == 1 and counts["/r3", "200"] == 2 and counts["/r99", "200"] == 1
    assert sum(counts.values()) == 102


def test_hostile_names_stay_data() -> None:
    monitor = Monitor()
    state = LiveState(monitor)
    monitor.add_sink(state)
    finish(monitor, HOSTILE, 200, "asgi")
    state.loop_block(HOSTILE, 0.1, [f"/app/{HOSTILE}.py:1 in {HOSTILE}: x()"])
    totals = json.loads(state.snapshot_json())["totals"]
    assert [entry["route"] for entry in totals["routes"]] == [HOSTILE]
    [site] = totals["block_sites"]
    assert site["route"] == HOSTILE and HOSTILE in site["site"]


def test_a_forked_child_counts_from_its_fork(registry: CollectorRegistry) -> None:
    app = GatewatchWSGI(ok_wsgi, registry=registry, live_token=TOKEN)
    state = app.runtime.live_state(app.monitor)
    call(app, make_environ("/parent"))
    parent = totals_of(state)
    assert sum(entry["requests"] for entry in parent["routes"]) == 1
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            before = totals_of(state)
            call(app, make_environ("/child"))
            after = totals_of(state)
            os.write(writing, json.dumps([before, after]).encode())
        finally:
            os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        before, after = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert before["routes"] == [] and before["started"] > parent["started"]
    assert sum(entry["requests"] for entry in after["routes"]) == 1
    assert sum(entry["requests"] for entry in totals_of(state)["routes"]) == 1
