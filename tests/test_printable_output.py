"""An app's strings in gatewatch's own log lines and in the demo's text report: written as data,
so that a route or an exception message can neither act on the terminal nor forge a log line
(issue 26 item 6)."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import AsyncClient
from prometheus_client import CollectorRegistry, generate_latest
from pytest_django.fixtures import Settings

from gatewatch import GatewatchWSGI, set_route
from gatewatch._printable import printable, printable_exception
from gatewatch.demo.report import ClientStats, Result, report, route_table
from gatewatch.export.prometheus.scrape_summary import route_summaries, summarize
from gatewatch.monitor import Sink
from gatewatch.types import Environ, StartResponse
from tests.support.django_support import django_registry
from tests.support.wsgi_driver import call, make_environ

__all__ = ["django_registry"]

CLEAR = "/clear\x1b[2J\x1b[H"
FORGED = "/forged\r\nCRITICAL gatewatch: forged line"
FORGED_PATH = "/forged%0D%0ACRITICAL%20gatewatch:%20forged/"
# Anything that acts on a terminal: every control but the line breaks gatewatch writes itself.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """What the ``gatewatch`` logger writes through a plain handler with logging's own formatter."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("gatewatch")
    # Its level as a server's is (warnings and above): a module imported earlier in this
    # process may have set another one (the bench's apps quiet it to errors).
    level = logger.level
    logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def records(text: str) -> list[str]:
    """The log's records: a line that does not start with a level continues the one above."""
    found: list[str] = []
    for line in text.splitlines():
        if re.match(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) ", line):
            found.append(line)
        else:
            assert found, line
            found[-1] += "\n" + line
    return found


def test_printable_writes_controls_as_escapes() -> None:
    assert printable(CLEAR) == "/clear\\x1b[2J\\x1b[H"
    assert printable(FORGED) == "/forged\\r\\nCRITICAL gatewatch: forged line"
    assert printable("a\u202eb\x9bc\x00") == "a\\u202eb\\x9bc\\x00"
    assert printable("/items/(?P<slug>[a-z-]+)/ é ✓") == "/items/(?P<slug>[a-z-]+)/ é ✓"


@pytest.mark.usefixtures("django_registry")
def test_a_django_route_in_the_loop_block_log_is_data(settings: Settings, log: io.StringIO) -> None:
    """Two re_path routes that hold the event loop: one whose template clears the screen, one
    whose template would start a CRITICAL line; each logged block is one record, escaped."""
    settings.ROOT_URLCONF = "tests.support.django_untrusted_urls"

    async def drive() -> list[int]:
        client = AsyncClient()
        return [(await client.get(path)).status_code for path in ("/clear%1B%5B2J/", FORGED_PATH)]

    assert asyncio.run(drive()) == [200, 200]
    text = log.getvalue()
    assert not CONTROL.findall(text)
    blocks = [record for record in records(text) if "held the event loop" in record]
    assert len(blocks) == 2
    assert blocks[0].startswith("WARNING gatewatch: gatewatch: /clear\\x1b\\[2J/ held the event loop for ")
    assert blocks[1].startswith(
        "WARNING gatewatch: gatewatch: /forged\\r\\nCRITICAL gatewatch: forged/ held the event loop for "
    )
    # The stack, one frame a line below the record, names the view that slept.
    assert all("in blocking: time.sleep(0.08)" in block for block in blocks)


class QuotingSink(Sink):
    """An exporter bug whose message quotes the route, as real ones do."""

    def request_finished(self, record: Any) -> None:
        try:
            raise LookupError(f"no series for {record.route}")
        except LookupError as exc:
            raise RuntimeError(f"exporter failed on {record.route}") from exc


def test_an_internal_error_quoting_a_route_is_one_record(
    registry: CollectorRegistry, log: io.StringIO
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        set_route(FORGED + CLEAR)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wrapped = GatewatchWSGI(app, registry=registry)
    wrapped.monitor.add_sink(QuotingSink())
    assert call(wrapped).body == b"ok"
    text = log.getvalue()
    assert not CONTROL.findall(text)
    [error] = records(text)
    assert error.startswith("ERROR gatewatch: gatewatch internal error in sink.request_finished")
    route = "/forged\\r\\nCRITICAL gatewatch: forged line/clear\\x1b[2J\\x1b[H"
    # Both messages of the chain, each on its own line, whole.
    assert f"\nLookupError: no series for {route}\n" in error
    assert error.endswith(f"\nRuntimeError: exporter failed on {route}")
    assert "Traceback (most recent call last):" in error


def test_an_exception_logged_as_the_message_is_data(log: io.StringIO) -> None:
    logging.getLogger("gatewatch").warning(RuntimeError(FORGED))
    assert log.getvalue() == "WARNING gatewatch: /forged\\r\\nCRITICAL gatewatch: forged line\n"


def test_printable_exception_keeps_the_traceback_of_a_plain_error() -> None:
    try:
        raise ValueError("plain")
    except ValueError as exc:
        text = printable_exception(exc)
    assert text.startswith("Traceback (most recent call last):\n")
    assert text.endswith("\nValueError: plain")
    assert (
        'in test_printable_exception_keeps_the_traceback_of_a_plain_error\n    raise ValueError("plain")'
        in text
    )


def test_the_demo_report_prints_routes_and_servers_as_data(registry: CollectorRegistry) -> None:
    """The report of a real scrape (a wrapped WSGI app naming hostile routes)."""
    routes = [CLEAR, FORGED, "[bold]x[/]"]

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        set_route(routes[int(environ["PATH_INFO"].strip("/"))])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wrapped = GatewatchWSGI(app, registry=registry)
    for index in range(3):
        assert call(wrapped, make_environ(f"/{index}")).status == "200 OK"
    scrape = generate_latest(registry).decode()
    result = Result(
        label="WSGI",
        server="waitress\x1b]0;pwned\x07",
        client=ClientStats(seconds=1.0, responses=3, latencies=[0.01, 0.02, 0.03]),
        summary=summarize(scrape, "wsgi"),
        routes=route_summaries(scrape, "wsgi"),
    )
    assert set(result.routes) == set(routes)
    out = io.StringIO()
    report([result], table=route_table([result]), notes=[f"{FORGED} was slow"], out=out)
    text = out.getvalue()
    assert not CONTROL.findall(text)
    lines = text.splitlines()
    assert "WSGI (waitress\\x1b]0;pwned\\x07)" in lines[1]
    for shown in ("/clear\\x1b[2J\\x1b[H", "/forged\\r\\nCRITICAL gatewatch: forged line", "[bold]x[/]"):
        assert sum(line.lstrip().startswith(shown) for line in lines) == 1, shown
    assert "- /forged\\r\\nCRITICAL gatewatch: forged line was slow" in text
    assert not any(line.startswith("CRITICAL") for line in lines)
