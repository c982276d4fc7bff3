"""End to end under hypercorn's trio worker: the ASGI middleware uses no asyncio-only calls.

Starlette apps wrapped by ``GatewatchASGI`` run on 127.0.0.1 with ``--worker-class trio``;
counts are exact, including the ready probe of
:class:`~gatewatch.demo.servers.ServerProcess` (one ``GET /fast``).

The example sleeps with ``anyio.sleep``, so ``/slow`` and ``/stream`` run on trio as they do
on asyncio.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from gatewatch.demo.servers import ServerProcess, free_port, hypercorn_command
from tests.support.scrape import value
from tests.support.traffic import DURATION_COUNT, ROOT, Key, duration_counts, in_flight_values, scrape_until

pytestmark = pytest.mark.slow

EXAMPLE_APP = "examples.starlette_app:wrapped"
EXCEPTIONS = "gatewatch_http_exceptions_total"
DISCONNECTS = "gatewatch_http_disconnects_total"
STREAM_BODY = b"".join(f"chunk {i}\n".encode() for i in range(5))

# (path, route, status, body), sent one after another.
Call = tuple[str, str, int, bytes | None]
CALLS: list[Call] = [
    *[("/fast", "/fast", 200, b"fast\n")] * 3,
    *[("/slow?seconds=0.01", "/slow", 200, b"slow\n")] * 3,
    *[("/error", "/error", 500, None)] * 2,
    *[("/stream?chunks=5&delay=0.01", "/stream", 200, STREAM_BODY)] * 3,
    ("/items/7", "/items/{item_id:int}", 200, b'{"id":7}'),
    ("/nope", "<unmatched>", 404, None),
]


def expected_counts(calls: list[Call]) -> Counter[Key]:
    expected = Counter(("GET", route, str(status)) for _, route, status, _ in calls)
    expected[("GET", "/fast", "200")] += 1  # ServerProcess's ready probe
    return expected


# What the client got: (status, body), or None when the response broke off half way.
Outcome = tuple[int, bytes] | None


def fetch(client: httpx.Client, path: str) -> Outcome:
    try:
        response = client.get(path)
    except httpx.RemoteProtocolError:
        return None
    return response.status_code, response.content


def serve_under_trio(app: str, tmp_path: Path, calls: list[Call]) -> tuple[list[Outcome], str, str]:
    """Run ``app`` under hypercorn's trio worker, send ``calls`` in order, scrape until every
    request (and the ready probe) is recorded and none is in flight."""
    port = free_port()
    log_path = tmp_path / "hypercorn.log"
    command = hypercorn_command(app, port, "--worker-class", "trio")
    with ServerProcess(command, port=port, ready_path="/fast", cwd=ROOT, log_path=log_path) as server:
        with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
            outcomes = [fetch(client, path) for path, _, _, _ in calls]

        def settled(text: str) -> bool:
            return value(text, DURATION_COUNT) == len(calls) + 1 and not any(in_flight_values(text))

        text = scrape_until(server.base_url, settled)
    return outcomes, text, log_path.read_text()


def without_route(counts: Mapping[Key, int], route: str) -> dict[Key, int]:
    return {key: number for key, number in counts.items() if key[1] != route and number}


def assert_common(text: str) -> None:
    assert value(text, "gatewatch_info", interface="asgi", server="hypercorn") == 1
    assert value(text, EXCEPTIONS, interface="asgi", route="/error", exception="RuntimeError") == 2
    assert in_flight_values(text)
    assert not any(in_flight_values(text))
    assert value(text, "gatewatch_internal_errors_total") == 0


def test_hypercorn_trio_exact_counts(tmp_path: Path) -> None:
    """/fast, /slow, /error, /stream (and a route template, a 404) on trio, counted exactly."""
    expected = expected_counts(CALLS)
    outcomes, text, log = serve_under_trio(EXAMPLE_APP, tmp_path, CALLS)

    assert "Running on http://127.0.0.1:" in log
    for (path, _, status, body), outcome in zip(CALLS, outcomes, strict=True):
        assert outcome is not None, path
        assert outcome[0] == status, (path, outcome)
        if body is not None:
            assert outcome[1] == body, path
    counts = duration_counts(text, "asgi")
    assert without_route(counts, "/stream") == without_route(expected, "/stream")
    assert value(text, DURATION_COUNT) == len(CALLS) + 1
    assert value(text, DURATION_COUNT, route="/stream") == 3
    assert value(text, EXCEPTIONS) == 2  # /error only
    assert value(text, "gatewatch_http_response_body_bytes_total", route="/stream") == 3 * len(STREAM_BODY)
    assert value(text, "gatewatch_http_request_duration_seconds_sum", route="/slow") >= 3 * 0.01
    assert value(text, "gatewatch_http_route_blocking_seconds_total", route="/slow") < value(
        text, "gatewatch_http_request_duration_seconds_sum", route="/slow"
    )
    assert_common(text)
    # Every stream above reached its client whole, with status 200: hypercorn queues
    # http.disconnect inside the final send, which must not read as a disconnect.
    assert counts == dict(expected)
    assert value(text, DISCONNECTS) == 0
