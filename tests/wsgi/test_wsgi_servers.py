"""GatewatchWSGI under real servers: waitress, wsgiref, Werkzeug's, gunicorn sync and gthread.

One process per server, started once for the module, serves the edge cases of
:mod:`tests.support.wsgi_edge_app` bare and wrapped side by side. The matrix compares the raw bytes
of both sides, byte for byte but the Date header; the regressions (issue 16) read the
wrapped side's /metrics and assert exact counts, as differences from a scrape taken just
before (the matrix shares the servers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from gatewatch.demo.servers import ServerProcess, free_port
from tests.support.scrape import value
from tests.support.traffic import ROOT, duration_counts, scrape, scrape_until
from tests.support.wsgi_servers import SERVERS, TIMED_OUT, exchange, header_block, normalise, server_command

pytestmark = pytest.mark.slow

APP = "tests.support.wsgi_edge_app:app"

# (method, case): every case is fetched as a pipelined pair on one connection, the first
# request kept alive, the second with Connection: close; the server's bytes until it closes
# are compared.
MATRIX = [
    ("GET", "one"),
    ("GET", "many"),
    ("GET", "generator"),
    ("GET", "late"),
    ("GET", "write"),
    ("GET", "exc_info_early"),
    ("GET", "exc_info_late"),
    ("GET", "file"),
    ("GET", "close_raises"),
    ("GET", "empty"),
    ("GET", "empty_chunk"),
    ("GET", "raise_after_start"),
    ("GET", "raise_in_first_next"),
    ("GET", "raise_after_empty_chunk"),
    ("HEAD", "one"),
    ("HEAD", "generator"),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProcess]]:
    logs = tmp_path_factory.mktemp("wsgi-servers")
    processes = {}
    for server in SERVERS:
        port = free_port()
        processes[server] = ServerProcess(
            server_command(server, APP, port),
            port=port,
            ready_path="/metrics",
            cwd=ROOT,
            log_path=logs / f"{server}.log",
            start_timeout=30.0,
        )
    with ExitStack() as stack:
        for process in processes.values():
            stack.callback(process.stop)
        # Started together: five interpreters importing Flask take a while each.
        with ThreadPoolExecutor(max_workers=len(processes)) as pool:
            for started in [pool.submit(process.start) for process in processes.values()]:
                started.result()
        yield processes


def fetch(server: ServerProcess, method: str, path: str, times: int = 2) -> bytes:
    return exchange(server.port, [(method, path)] * times)


@pytest.mark.parametrize("name", SERVERS)
def test_transparency_matrix(servers: dict[str, ServerProcess], name: str) -> None:
    server = servers[name]
    differences = {}
    for method, case in MATRIX:
        bare = normalise(fetch(server, method, f"/bare/{case}"))
        assert bare and not bare.endswith(TIMED_OUT), f"{name} {method} {case}: {bare!r}"
        # Wrapped, and wrapped with OpenTelemetry spans on (issue 26).
        for side in ("wrapped", "spans"):
            wrapped = normalise(fetch(server, method, f"/{side}/{case}"))
            if bare != wrapped:
                differences[f"{side} {method} {case}"] = (bare, wrapped)
    assert differences == {}
    # Every wrapped request ended for gatewatch too, however it ended (file wrappers closed
    # by waitress's I/O thread included), and none tripped gatewatch itself.
    text = settle(server.base_url, lambda t: value(t, "gatewatch_http_requests_in_flight") == 0)
    assert value(text, "gatewatch_http_requests_in_flight") == 0
    assert value(text, "gatewatch_internal_errors_total") == 0
    assert value(text, "gatewatch_http_request_duration_seconds_count", route="/file") >= 1


@pytest.mark.parametrize("name", ["waitress", "wsgiref"])
def test_one_element_list_keeps_content_length(servers: dict[str, ServerProcess], name: str) -> None:
    # Issue 16: wrapped, waitress answered chunked with Connection: close (dropping the
    # pipelined request) and wsgiref sent no Content-Length.
    raw = fetch(servers[name], "GET", "/wrapped/one")
    first = header_block(raw)
    assert "Content-Length: 11" in first
    assert "Transfer-Encoding" not in first
    if name == "waitress":
        assert "Connection: close" not in first
        assert raw.count(b"HTTP/1.1 200 OK") == 2  # the pipelined second request was answered
        assert raw.count(b"one element") == 2


def route_counts(text: str, route: str) -> dict[str, int]:
    return {key[2]: n for key, n in duration_counts(text, "wsgi").items() if key[1] == route}


def counts_by_route(base_url: str, route: str) -> dict[str, int]:
    """{status: requests} of ``route`` on the wrapped side, now."""
    return route_counts(scrape(base_url), route)


def difference(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {status: n - before.get(status, 0) for status, n in after.items() if n != before.get(status, 0)}


def settle(base_url: str, done: Callable[[str], bool]) -> str:
    return scrape_until(base_url, done, timeout=10.0)


@pytest.mark.parametrize("name", SERVERS)
@pytest.mark.parametrize("case", ["raise_after_start", "raise_in_first_next"])
def test_status_after_an_exception_is_the_servers_500(
    servers: dict[str, ServerProcess], name: str, case: str
) -> None:
    # Issue 16 (seen under gunicorn sync): start_response("200 OK") then an exception before
    # any body byte was recorded as 200 while the server sends 500.
    server = servers[name]
    route = f"/{case}"
    before = counts_by_route(server.base_url, route)
    exceptions = value(scrape(server.base_url), "gatewatch_http_exceptions_total", route=route)
    response = httpx.get(f"{server.base_url}/wrapped/{case}", timeout=10.0)
    assert response.status_code == 500
    text = settle(
        server.base_url, lambda t: value(t, "gatewatch_http_exceptions_total", route=route) == exceptions + 1
    )
    assert difference(before, counts_by_route(server.base_url, route)) == {"500": 1}
    assert (
        value(text, "gatewatch_http_exceptions_total", route=route, exception="RuntimeError")
        == exceptions + 1
    )
    assert value(text, "gatewatch_http_requests_in_flight") == 0


@pytest.mark.parametrize("name", SERVERS)
def test_flask_upload_counts_every_request_byte(servers: dict[str, ServerProcess], name: str) -> None:
    # Issue 16 (seen under wsgiref and Werkzeug's server): Werkzeug reads wsgi.input with
    # readinto(), which went uncounted: a 100 000-byte upload recorded 0.
    server = servers[name]
    response = httpx.post(f"{server.base_url}/flask/upload", content=b"x" * 100_000, timeout=10.0)
    assert response.status_code == 200
    assert response.text == "100000"
    text = settle(server.base_url, lambda t: route_counts(t, "/flask/upload") == {"200": 1})
    assert route_counts(text, "/flask/upload") == {"200": 1}
    assert value(text, "gatewatch_http_request_body_bytes_total", route="/flask/upload") == 100_000


@pytest.mark.parametrize("name", ["waitress", "gunicorn-gthread"])
def test_flask_blueprint_prefix_parameters_are_one_label(
    servers: dict[str, ServerProcess], name: str
) -> None:
    # Issue 26: a parameter in a blueprint's url_prefix is part of the rule, never the raw path.
    server = servers[name]
    tenants = [f"customer-{n}@example.com" for n in range(25)]
    for tenant in tenants:
        assert httpx.get(f"{server.base_url}/flask/t/{tenant}/items", timeout=10.0).status_code == 200
    assert httpx.get(f"{server.base_url}/flask/t/{tenants[0]}/d/raw-d/x", timeout=10.0).status_code == 200
    items, nested = "/flask/t/<tenant>/items", "/flask/t/<tenant>/d/<d>/x"
    text = settle(
        server.base_url,
        lambda t: route_counts(t, items) == {"200": 25} and route_counts(t, nested) == {"200": 1},
    )
    assert route_counts(text, items) == {"200": 25}
    assert route_counts(text, nested) == {"200": 1}
    assert "customer-" not in text and "raw-d" not in text


def test_work_in_close_is_after_the_response(servers: dict[str, ServerProcess], tmp_path: Path) -> None:
    # A close() that cleans up until the test releases it, after the body went out: the request
    # is out of in-flight as soon as the body is exhausted, and recorded when close() returned,
    # with close()'s time apart as after-response time.
    server = servers["gunicorn-gthread"]
    route = "/slow_close"
    release = tmp_path / "release"

    def after_count(text: str) -> float:
        return value(text, "gatewatch_http_request_after_response_seconds_count", route=route)

    before = counts_by_route(server.base_url, route)
    sent = time.monotonic()
    response = httpx.get(
        f"{server.base_url}/wrapped/slow_close", params={"release": str(release)}, timeout=60
    )
    assert response.text == "body, then close() cleans up"
    text = scrape(server.base_url)
    scraped = time.monotonic() - sent
    # The client had the response, and the request was out of flight, while close() still ran
    # (it waits for the release): not recorded yet.
    assert value(text, "gatewatch_http_requests_in_flight") == 0
    assert difference(before, route_counts(text, route)) == {}
    # The request's own duration is inside ``scraped``; close() is held at least as long again,
    # so a duration that took in the clean-up would exceed the after-response time.
    time.sleep(scraped)
    release.touch()
    text = settle(server.base_url, lambda t: after_count(t) == 1)
    assert difference(before, route_counts(text, route)) == {"200": 1}
    after = value(text, "gatewatch_http_request_after_response_seconds_sum", route=route)
    duration = value(text, "gatewatch_http_request_duration_seconds_sum", route=route)
    assert duration < scraped <= after


# Not waitress: it writes a chunked body's last chunk after close(), so a close() that raises
# leaves the client with a truncated body there (bare as well: see the matrix).
@pytest.mark.parametrize("name", ["gunicorn-sync", "werkzeug"])
def test_close_raising_after_the_response(servers: dict[str, ServerProcess], name: str) -> None:
    # The client got the whole 200; the exception close() raised after it is the app's
    # after-response failure, counted as an exception of the route, not a 500.
    server = servers[name]
    route = "/close_raises"
    before = counts_by_route(server.base_url, route)
    text = scrape(server.base_url)
    exceptions = value(text, "gatewatch_http_exceptions_total", route=route)
    after_responses = value(text, "gatewatch_http_request_after_response_seconds_count", route=route)
    response = httpx.get(f"{server.base_url}/wrapped/close_raises", timeout=10.0)
    assert (response.status_code, response.text) == (200, "body, then close() raises")
    text = settle(
        server.base_url,
        lambda t: (
            value(t, "gatewatch_http_request_after_response_seconds_count", route=route)
            == after_responses + 1
        ),
    )
    assert difference(before, counts_by_route(server.base_url, route)) == {"200": 1}
    assert (
        value(text, "gatewatch_http_exceptions_total", route=route, exception="RuntimeError")
        == exceptions + 1
    )
