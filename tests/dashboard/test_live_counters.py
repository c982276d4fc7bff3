"""A live view's totals as the dashboard's cumulative counters: one per process, statuses by
class, buckets cumulative, nothing for a process without totals; and the recorded views' totals
agree with themselves and grow from one document to the later one."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from gatewatch_dashboard.counters import ProcessCounters
from gatewatch_dashboard.live_counters import process_counters

from gatewatch.export.live.schema import LiveView, parse_live_view
from tests.support.live_fixtures import (
    ASGI_FILE,
    ASGI_LATER_FILE,
    ASGI_STARTED,
    HOSTILE_ROUTE,
    HOSTILE_SESSION_ROUTE,
    HOSTILE_SITE,
    LATER,
    NOW,
    WSGI_FILE,
    WSGI_LATER_FILE,
)

FILES = (ASGI_FILE, WSGI_FILE, ASGI_LATER_FILE, WSGI_LATER_FILE)


def view_of(path: Any) -> LiveView:
    return parse_live_view(path.read_bytes())


def test_one_counters_per_process_keyed_by_pid_as_of_the_view() -> None:
    [asgi] = process_counters(view_of(ASGI_FILE))
    assert (asgi.key, asgi.at, asgi.started) == ("4242", NOW, ASGI_STARTED)
    wsgi = process_counters(view_of(WSGI_FILE))
    assert [counters.key for counters in wsgi] == ["5001", "5002"]
    assert all(counters.at == NOW for counters in wsgi)


def test_a_route_has_its_statuses_by_class_and_cumulative_buckets() -> None:
    [asgi] = process_counters(view_of(ASGI_FILE))
    fast = asgi.routes["asgi", "/fast"]
    assert fast.requests == 1200
    assert fast.statuses == {"2xx": 1200}
    # 1160 at 2 ms (the 2.5 ms bucket), 40 at 4 ms (the 5 ms one): cumulative, +Inf last.
    assert fast.buckets[:4] == (0, 1160, 1200, 1200)
    assert fast.buckets[-1] == fast.requests
    assert len(fast.buckets) == len(asgi.duration_bounds) + 1
    assert fast.duration_sum == pytest.approx(1160 * 0.002 + 40 * 0.004)
    assert fast.cpu_samples == 150 and fast.blocking_sum == pytest.approx(0.6)
    assert asgi.routes["asgi", "/error"].statuses == {"5xx": 25}
    assert asgi.routes["asgi", "<unmatched>"].statuses == {"4xx": 6}


def test_statuses_of_one_route_are_added_up() -> None:
    view: dict[str, Any] = json.loads(ASGI_FILE.read_bytes())
    routes = view["processes"][0]["totals"]["routes"]
    [fast] = [entry for entry in routes if entry["route"] == "/fast"]
    failed = copy.deepcopy(fast)
    failed.update(status="503", requests=3, duration_sum=0.3, duration_buckets=[0] * 6 + [3] + [0] * 9)
    odd = copy.deepcopy(failed)
    odd.update(status="_OTHER", requests=1, duration_buckets=[1] + [0] * 15)
    routes += [failed, odd]
    [asgi] = process_counters(parse_live_view(view))
    route = asgi.routes["asgi", "/fast"]
    assert route.requests == 1204
    assert route.statuses == {"2xx": 1200, "5xx": 3, "other": 1}
    assert route.buckets[0] == 1 and route.buckets[6] == 1204 and route.buckets[-1] == 1204
    assert route.duration_sum == pytest.approx(fast["duration_sum"] + 0.3 + 0.3)


def test_interfaces_lag_sites_and_sessions() -> None:
    [asgi] = process_counters(view_of(ASGI_FILE))
    interface = asgi.interfaces["asgi"]
    requests = sum(route.requests for route in asgi.routes.values())
    assert interface.concurrency_count == requests == interface.after_response_count
    assert asgi.lag_count == 6000 and asgi.lag_buckets[-1] == 6000
    assert list(asgi.lag_buckets) == sorted(asgi.lag_buckets)  # cumulative
    site = asgi.sites["/blocking", "/srv/app/examples/starlette_app.py:41 in blocking"]
    assert (site.count, site.worst, site.last_at) == (40, 0.1, NOW - 2.5)
    assert len(site.recent) == 16 and site.recent[-1] == (NOW - 2.5, 0.1)
    assert site.stack[-1].endswith('time.sleep(float(request.query_params.get("seconds", "0.05")))')
    assert "starlette/routing.py" in site.outer_stack[2]
    assert asgi.sites["<background>", ""].stack == ()
    assert asgi.sessions["/ws/echo", "accepted"].sessions == 7
    assert asgi.sessions["/ws/echo", "accepted"].received_bytes == 7 * 40 * 20
    [wsgi, _] = process_counters(view_of(WSGI_FILE))
    assert wsgi.interfaces["wsgi"].saturated == 206 and wsgi.interfaces["wsgi"].queue_count == 200
    assert wsgi.lag_count == 0 and not wsgi.sites and not wsgi.sessions


def test_a_process_without_totals_gives_no_counters() -> None:
    view: dict[str, Any] = json.loads(WSGI_FILE.read_bytes())
    del view["processes"][0]["totals"]
    [only] = process_counters(parse_live_view(view))
    assert only.key == "5002"
    del view["processes"][1]["totals"]
    assert process_counters(parse_live_view(view)) == ()


def test_hostile_names_stay_data() -> None:
    [asgi] = process_counters(view_of(ASGI_LATER_FILE))
    assert asgi.routes["asgi", HOSTILE_ROUTE].requests == 12
    assert asgi.sites[HOSTILE_ROUTE, HOSTILE_SITE].count == 3
    assert asgi.sessions[HOSTILE_SESSION_ROUTE, "accepted"].sessions == 1
    wsgi = process_counters(view_of(WSGI_LATER_FILE))
    assert wsgi[1].routes["wsgi", HOSTILE_ROUTE].statuses == {"2xx": 5}


def counts(counters: ProcessCounters) -> dict[tuple[str, ...], float]:
    flat: dict[tuple[str, ...], float] = {("lag",): counters.lag_count}
    for (interface, route), found in counters.routes.items():
        flat["route", interface, route] = found.requests
        for index, bucket in enumerate(found.buckets):
            flat["bucket", interface, route, str(index)] = bucket
    for (route, site), at_site in counters.sites.items():
        flat["site", route, site] = at_site.count
    for (route, outcome), sessions in counters.sessions.items():
        flat["sessions", route, outcome] = sessions.sessions
    return flat


@pytest.mark.parametrize(("now", "later"), [(ASGI_FILE, ASGI_LATER_FILE), (WSGI_FILE, WSGI_LATER_FILE)])
def test_the_later_documents_only_grow_and_add_a_site(now: Any, later: Any) -> None:
    before = {c.key: c for c in process_counters(view_of(now))}
    after = {c.key: c for c in process_counters(view_of(later))}
    assert before.keys() == after.keys()
    for key, counters in after.items():
        assert counters.at == LATER and counters.started == before[key].started
        old, new = counts(before[key]), counts(counters)
        assert all(new[name] >= value for name, value in old.items()), key
        assert set(new) > set(old) or key == "5001"
    if now is ASGI_FILE:
        [asgi] = after.values()
        new_sites = set(asgi.sites) - set(before["4242"].sites)
        assert ("/blocking", "/srv/app/examples/starlette_app.py:52 in heavy_json") in new_sites


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_the_recorded_totals_agree_with_themselves(path: Any) -> None:
    for process in view_of(path)["processes"]:
        totals = process["totals"]
        for route in totals["routes"]:
            assert sum(route["duration_buckets"]) == route["requests"]
            assert len(route["duration_buckets"]) == len(totals["duration_bounds"]) + 1
        assert sum(totals["lag_buckets"]) == totals["lag_count"]
        [interface] = totals["interfaces"]
        assert interface["concurrency_count"] == sum(route["requests"] for route in totals["routes"])
        for site in totals["block_sites"]:
            assert site["total"] == pytest.approx(site["count"] * site["worst"])
            assert len(site["recent"]) <= 16
        shown = {block["route"] for block in process["loop_blocks"]}
        assert shown <= {site["route"] for site in totals["block_sites"]}
        for recent in process["recent"]:
            assert any(
                (route["route"], route["status"]) == (recent["route_label"], recent["status_label"])
                for route in totals["routes"]
            )
