"""Per-message cost of WebSocket instrumentation, in process: no server, no network.

A raw ASGI echo app (so only the middleware's cost is on top of it) is driven with in-memory
``receive`` / ``send``: each session is ``websocket.connect``, N data messages (ASCII text and
binary, alternately, 32 bytes each), ``websocket.disconnect``; the app accepts and echoes every
message. One "message" below is one echo: a ``websocket.receive`` in and a ``websocket.send``
out. Cases:

* bare: the echo app alone;
* gatewatch: ``GatewatchASGI(app, registry=CollectorRegistry())`` (and with ``cpu_time=False``);
* OpenTelemetry: ``OpenTelemetryMiddleware`` with an SDK ``TracerProvider``, a
  ``SimpleSpanProcessor`` and an ``InMemorySpanExporter`` (cleared between rounds);
* floor: a hand-written middleware counting messages and bytes with prometheus-client
  ``Counter.labels(...).inc()`` per message.

Two ways to feed the app:

* inline: ``receive`` returns at once, so a whole session is a single step of the app coroutine;
  this isolates the bookkeeping done per message;
* loop: ``receive`` suspends once per message (``asyncio.sleep(0)``), as a server's ``receive``
  does while it waits for the next frame; this adds the event loop's round trip to every message
  and, for gatewatch, its per-step timer (``perf_counter``, plus ``thread_time`` with cpu_time).

Rounds interleave the cases (rotating their order) and the median per message is reported.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter

from prometheus_client import Counter, Gauge, generate_latest
from prometheus_client.registry import CollectorRegistry

from gatewatch import GatewatchASGI
from gatewatch.export.prometheus.scrape_summary import parse, total
from gatewatch.types import ASGIApp, Message, Receive, Scope, Send

PAYLOAD_SIZE = 32
TEXT = "m" * PAYLOAD_SIZE
BINARY = b"\x01" * PAYLOAD_SIZE
PATH = "/ws/echo"

MESSAGES, ROUNDS, TARGET = 1000, 9, 0.1
QUICK_MESSAGES, QUICK_ROUNDS, QUICK_TARGET = 200, 2, 0.01

BARE = "bare"
GATEWATCH = "gatewatch"
GATEWATCH_NO_CPU = "gatewatch cpu_time=False"
OTEL = "OpenTelemetry ASGI"
FLOOR = "floor (prometheus-client)"


def websocket_scope() -> Scope:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "extensions": {},
    }


def script(messages: int) -> list[Message]:
    data: list[Message] = [
        {"type": "websocket.receive", "text": TEXT}
        if index % 2 == 0
        else {"type": "websocket.receive", "bytes": BINARY}
        for index in range(messages)
    ]
    return [{"type": "websocket.connect"}, *data, {"type": "websocket.disconnect", "code": 1000}]


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels``."""
    return total(parse(generate_latest(registry).decode()), name, **labels)


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, echo every message as it came, return on disconnect."""
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        text = message.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


class FloorWebSocket:
    """The floor: messages and bytes counted with prometheus-client, ``.labels(...)`` per message."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.messages = Counter(
            "floor_ws_messages", "Messages", ("route", "direction", "kind"), registry=registry
        )
        self.bytes = Counter("floor_ws_message_bytes", "Bytes", ("route", "direction"), registry=registry)
        self.active = Gauge("floor_ws_sessions_active", "Active", ("route",), registry=registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        route = scope["path"]
        messages, payload = self.messages, self.bytes

        async def receive_counted() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                text = message.get("text")
                if text is not None:
                    messages.labels(route, "received", "text").inc()
                    payload.labels(route, "received").inc(len(text.encode()))
                else:
                    messages.labels(route, "received", "binary").inc()
                    payload.labels(route, "received").inc(len(message.get("bytes") or b""))
            return message

        async def send_counted(message: Message) -> None:
            await send(message)
            if message["type"] == "websocket.send":
                text = message.get("text")
                if text is not None:
                    messages.labels(route, "sent", "text").inc()
                    payload.labels(route, "sent").inc(len(text.encode()))
                else:
                    messages.labels(route, "sent", "binary").inc()
                    payload.labels(route, "sent").inc(len(message.get("bytes") or b""))

        active = self.active.labels(route)
        active.inc()
        try:
            await self.app(scope, receive_counted, send_counted)
        finally:
            active.dec()


@dataclass
class Case:
    name: str
    app: ASGIApp
    # Called before every round (the OpenTelemetry exporter drops the spans it kept).
    reset: Callable[[], None] = lambda: None
    # Extra check after a known session: what the instrumentation recorded.
    verify: Callable[[int], None] = lambda messages: None


def cases() -> list[Case]:
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    otel: ASGIApp = OpenTelemetryMiddleware(
        echo_app, tracer_provider=tracer_provider, meter_provider=meter_provider
    )

    def otel_spans(messages: int) -> None:
        # The session span, one receive span per message received (connect, data, disconnect)
        # and one send span per message sent (accept, echoes).
        spans = len(exporter.get_finished_spans())
        if spans != 1 + (messages + 2) + (messages + 1):
            raise AssertionError(f"OpenTelemetry: {spans} spans for {messages} messages")

    def gatewatch_case(name: str, *, cpu_time: bool) -> Case:
        registry = CollectorRegistry()
        app = GatewatchASGI(echo_app, registry=registry, cpu_time=cpu_time)

        def counted(messages: int) -> None:
            received = value(registry, "gatewatch_websocket_messages_total", direction="received")
            sent = value(registry, "gatewatch_websocket_messages_total", direction="sent")
            if (received, sent) != (messages, messages):
                raise AssertionError(f"{name}: counted {received} / {sent} for {messages} messages")

        return Case(name, app, verify=counted)

    floor_registry = CollectorRegistry()

    def floor_counted(messages: int) -> None:
        received = value(floor_registry, "floor_ws_messages_total", direction="received")
        if received != messages:
            raise AssertionError(f"floor: counted {received} for {messages} messages")

    return [
        Case(BARE, echo_app),
        gatewatch_case(GATEWATCH, cpu_time=True),
        gatewatch_case(GATEWATCH_NO_CPU, cpu_time=False),
        Case(OTEL, otel, reset=exporter.clear, verify=otel_spans),
        Case(FLOOR, FloorWebSocket(echo_app, floor_registry), verify=floor_counted),
    ]


async def session(
    app: ASGIApp, messages: Sequence[Message], *, suspend: bool, sent: list[Message] | None = None
) -> None:
    """One session of ``messages`` (connect ... disconnect) through ``app``."""
    next_message = iter(messages).__next__

    if suspend:
        sleep = asyncio.sleep

        async def receive() -> Message:
            await sleep(0)
            return next_message()
    else:

        async def receive() -> Message:
            return next_message()

    send = _discard if sent is None else _collector(sent)
    await app(websocket_scope(), receive, send)


async def _discard(message: Message) -> None:
    pass


def _collector(sent: list[Message]) -> Send:
    async def send(message: Message) -> None:
        sent.append(message)

    return send


async def sessions(app: ASGIApp, messages: Sequence[Message], count: int, *, suspend: bool) -> None:
    for _ in range(count):
        await session(app, messages, suspend=suspend)


def check(loop: asyncio.AbstractEventLoop, case: Case) -> None:
    """One short session: the echoes are the messages sent, and the case recorded them."""
    messages = 10
    sent: list[Message] = []
    case.reset()
    loop.run_until_complete(session(case.app, script(messages), suspend=True, sent=sent))
    echoes = [m.get("text", m.get("bytes")) for m in sent if m["type"] == "websocket.send"]
    expected = [m.get("text", m.get("bytes")) for m in script(messages)[1:-1]]
    if [m["type"] for m in sent[:1]] != ["websocket.accept"] or echoes != expected:
        raise AssertionError(f"{case.name}: the echo app did not echo: {sent[:3]}")
    case.verify(messages)
    case.reset()


def _time_round(
    loop: asyncio.AbstractEventLoop, case: Case, messages: Sequence[Message], count: int, *, suspend: bool
) -> float:
    """Seconds per message of ``count`` sessions."""
    case.reset()
    gc.collect()
    started = perf_counter()
    loop.run_until_complete(sessions(case.app, messages, count, suspend=suspend))
    elapsed = perf_counter() - started
    return elapsed / (count * (len(messages) - 2))


def measure(
    loop: asyncio.AbstractEventLoop,
    all_cases: Sequence[Case],
    *,
    suspend: bool,
    messages: int,
    rounds: int,
    target: float,
) -> list[tuple[str, float]]:
    session_script = script(messages)
    counts: dict[str, int] = {}
    for case in all_cases:
        _time_round(loop, case, session_script, 1, suspend=suspend)  # warm up
        per_session = _time_round(loop, case, session_script, 1, suspend=suspend) * messages
        counts[case.name] = max(1, round(target / max(per_session, 1e-9)))
    results: dict[str, list[float]] = {case.name: [] for case in all_cases}
    for round_index in range(rounds):
        shift = round_index % len(all_cases)
        for case in [*all_cases[shift:], *all_cases[:shift]]:
            results[case.name].append(
                _time_round(loop, case, session_script, counts[case.name], suspend=suspend)
            )
    for case in all_cases:
        case.reset()
    return [(case.name, statistics.median(results[case.name]) * 1e6) for case in all_cases]


def run(*, quick: bool) -> list[tuple[str, float]]:
    """(label, microseconds per echoed message) for every case, inline then loop-driven."""
    messages = QUICK_MESSAGES if quick else MESSAGES
    rounds = QUICK_ROUNDS if quick else ROUNDS
    target = QUICK_TARGET if quick else TARGET
    loop = asyncio.new_event_loop()
    try:
        all_cases = cases()
        for case in all_cases:
            check(loop, case)
        rows: list[tuple[str, float]] = []
        for mode, suspend in (("inline", False), ("loop", True)):
            for name, micros in measure(
                loop, all_cases, suspend=suspend, messages=messages, rounds=rounds, target=target
            ):
                rows.append((f"{mode}: {name}", micros))
        return rows
    finally:
        loop.close()


def format_rows(rows: Sequence[tuple[str, float]]) -> list[str]:
    """The rows as a table, with the overhead over the bare app of the same mode."""
    bare = {label.split(": ", 1)[0]: micros for label, micros in rows if label.endswith(f": {BARE}")}
    width = max(len(label) for label, _ in rows)
    lines = [f"{'case'.ljust(width)}   µs/message   overhead µs", "-" * (width + 29)]
    for label, micros in rows:
        mode = label.split(": ", 1)[0]
        overhead = "-" if label.endswith(f": {BARE}") else f"{micros - bare[mode]:.2f}"
        lines.append(f"{label.ljust(width)}   {micros:10.2f}   {overhead:>11}")
    return lines


def _main(argv: Sequence[str]) -> int:
    quick = "--quick" in argv
    rows = run(quick=quick)
    print(
        f"WebSocket echo, {QUICK_MESSAGES if quick else MESSAGES} messages a session, median of "
        f"{QUICK_ROUNDS if quick else ROUNDS} rounds" + (" [--quick: not a measurement]" if quick else "")
    )
    print(*format_rows(rows), sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
