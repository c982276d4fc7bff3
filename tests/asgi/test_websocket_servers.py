"""WebSocket sessions under real servers, with the real ``websockets`` client: exact accounting.

``examples.starlette_app:wrapped`` runs under uvicorn (its default sans-I/O ``websockets``
protocol and its ``wsproto`` one) and under hypercorn (asyncio and trio workers), on 127.0.0.1;
50 sessions of known traffic end every way a session can end, and every WebSocket number on
``/metrics`` is checked exactly. Under uvicorn the wrapped app is also compared with the bare
one for transparency.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gatewatch.demo.servers import ServerProcess, free_port, hypercorn_command, uvicorn_command
from tests.support.scrape import samples, value
from tests.support.traffic import ROOT, scrape, scrape_until
from tests.support.websocket_driver import (
    ACTIVE,
    BLOCKING_COUNT,
    BLOCKING_SUM,
    BYTES,
    CLOSES,
    DURATION_COUNT,
    EXCEPTIONS,
    MESSAGES,
    SESSIONS,
)

pytestmark = pytest.mark.slow

WRAPPED = "examples.starlette_app:wrapped"
BARE = "examples.starlette_app:app"
ECHO, REJECT, BLOCKING = "/ws/echo", "/ws/reject", "/ws/blocking"

SESSIONS_SENT = 50
CONCURRENCY = 10
TIMEOUT = 5.0  # seconds for any one client operation
SERVER_CLOSE_CODE = 4001
CLOSE_COMMAND = f"close:{SERVER_CLOSE_CODE}"

# Texts with multi-byte UTF-8 (2, 3 and 4 bytes a character) and binaries with every byte value.
TEXTS = ("hello", "héllo wörld", "✓ ok", "emoji 🚀🙂", "", "x" * 300)
BINARIES = (bytes(range(256)), b"", b"\x00", b"\xff\xfe" * 100, bytes(range(255, -1, -1)) * 3)


@dataclass(frozen=True)
class Server:
    """How to start one server, and the ``websocket.disconnect`` codes it hands the app.

    gatewatch records the code the server gives the app (client initiator), and servers differ:

    * a dropped TCP connection (no close frame): uvicorn's two WebSocket protocols say 1005, not
      1006 (``connection_lost`` in ``uvicorn/protocols/websockets/{websockets_sansio,wsproto}_impl.py``:
      ``1005 if self.handshake_complete else 1006``); hypercorn says 1006;
    * a client close frame with code 1000: uvicorn passes 1000 on; hypercorn 0.18 says 1006 for
      every client close (it never passes the frame's code on: its ``StreamClosed`` handler sees the
      state still CONNECTED; pgjones/hypercorn#127).
    """

    name: str
    command: Callable[[str, int], list[str]]
    client_close_code: int
    drop_code: int
    info_server: str


SERVERS = [
    Server("uvicorn", lambda app, port: uvicorn_command(app, port), 1000, 1005, "uvicorn"),
    Server(
        "uvicorn-wsproto",
        lambda app, port: uvicorn_command(app, port, "--ws", "wsproto"),
        1000,
        1005,
        "uvicorn",
    ),
    Server("hypercorn", lambda app, port: hypercorn_command(app, port), 1006, 1006, "hypercorn"),
    Server(
        "hypercorn-trio",
        lambda app, port: hypercorn_command(app, port, "--worker-class", "trio"),
        1006,
        1006,
        "hypercorn",
    ),
]


def ws_url(server: ServerProcess, path: str) -> str:
    return server.base_url.replace("http://", "ws://", 1) + path


async def open_ws(url: str, **options: Any) -> ClientConnection:
    return await connect(
        url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, ping_interval=None, max_size=None, **options
    )


def series(text: str, name: str, *label_names: str) -> dict[tuple[str, ...], float]:
    """Every sample named ``name`` as {label values in ``label_names`` order: value}."""
    out: dict[tuple[str, ...], float] = {}
    for (sample_name, labels), number in samples(text).items():
        if sample_name == name:
            found = dict(labels)
            out[tuple(found.get(label, "") for label in label_names)] = number
    return out


def log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-3000:]
    except OSError:
        return "<no log>"


# -- 50 sessions of known traffic, every way a session ends --------------------------------


@dataclass(frozen=True)
class Plan:
    """One session: its messages, and how it ends."""

    ending: str  # "client" (close 1000), "server" (close:4001), "reject" or "drop"
    messages: tuple[str | bytes, ...] = field(default=())

    @property
    def received_by_server(self) -> tuple[str | bytes, ...]:
        return (*self.messages, CLOSE_COMMAND) if self.ending == "server" else self.messages


def session_plans(seed: int = 20240612) -> list[Plan]:
    """50 sessions: 20 client closes, 10 server closes, 10 rejected, 10 dropped; shuffled."""
    rng = random.Random(seed)
    endings = ["client"] * 20 + ["server"] * 10 + ["reject"] * 10 + ["drop"] * 10
    rng.shuffle(endings)
    plans: list[Plan] = []
    for index, ending in enumerate(endings):
        if ending == "reject":
            plans.append(Plan(ending))
            continue
        texts = [TEXTS[(index + k) % len(TEXTS)] for k in range(1 + index % 4)]
        binaries = [BINARIES[(index + k) % len(BINARIES)] for k in range(index % 3)]
        messages: list[str | bytes] = [*texts, *binaries]
        rng.shuffle(messages)
        plans.append(Plan(ending, tuple(messages)))
    assert len(plans) == SESSIONS_SENT
    return plans


@dataclass
class Expected:
    messages: Counter[tuple[str, str]] = field(default_factory=Counter)  # (direction, kind)
    payload: Counter[str] = field(default_factory=Counter)  # direction -> bytes
    closes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (code, initiator)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (route, outcome)


def size(message: str | bytes) -> int:
    return len(message.encode("utf-8") if isinstance(message, str) else message)


def kind(message: str | bytes) -> str:
    return "text" if isinstance(message, str) else "binary"


def expected_numbers(plans: list[Plan], spec: Server) -> Expected:
    expected = Expected()
    for plan in plans:
        if plan.ending == "reject":
            expected.outcomes[(REJECT, "rejected")] += 1
            continue
        expected.outcomes[(ECHO, "accepted")] += 1
        for message in plan.received_by_server:
            expected.messages[("received", kind(message))] += 1
            expected.payload["received"] += size(message)
        for message in plan.messages:  # every data message is echoed; the close command is not
            expected.messages[("sent", kind(message))] += 1
            expected.payload["sent"] += size(message)
        code, initiator = {
            "client": (spec.client_close_code, "client"),
            "server": (SERVER_CLOSE_CODE, "server"),
            "drop": (spec.drop_code, "client"),
        }[plan.ending]
        expected.closes[(str(code), initiator)] += 1
    return expected


async def play(server: ServerProcess, plan: Plan) -> None:
    if plan.ending == "reject":
        with pytest.raises(InvalidStatus) as caught:
            await open_ws(ws_url(server, REJECT))
        assert caught.value.response.status_code == 403
        return
    ws = await open_ws(ws_url(server, ECHO))
    try:
        for message in plan.messages:
            await ws.send(message)
            echoed = await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert echoed == message
        if plan.ending == "client":
            await ws.close(1000)
            assert ws.close_code == 1000
        elif plan.ending == "server":
            await ws.send(CLOSE_COMMAND)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert ws.close_code == SERVER_CLOSE_CODE
        else:
            # Drop: the TCP connection goes away, no close frame either way.
            ws.transport.abort()
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
            assert ws.close_code == 1006  # what the client itself saw
    except BaseException:
        ws.transport.abort()  # never leave a session open behind a failed assertion
        raise


async def play_all(server: ServerProcess, plans: list[Plan]) -> None:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(plan: Plan) -> None:
        async with semaphore:
            await play(server, plan)

    await asyncio.gather(*(one(plan) for plan in plans))


@pytest.mark.parametrize("spec", SERVERS, ids=[s.name for s in SERVERS])
def test_sessions_counted_exactly(spec: Server, tmp_path: Path) -> None:
    plans = session_plans()
    expected = expected_numbers(plans, spec)
    port = free_port()
    log = tmp_path / f"{spec.name}.log"
    with ServerProcess(
        spec.command(WRAPPED, port), port=port, ready_path="/metrics", cwd=ROOT, log_path=log
    ) as server:
        asyncio.run(asyncio.wait_for(play_all(server, plans), 60))

        def settled(text: str) -> bool:
            return value(text, SESSIONS) == SESSIONS_SENT and value(text, ACTIVE) == 0

        text = scrape_until(server.base_url, settled, TIMEOUT)
    context = log_tail(log)

    outcomes = {k: v for k, v in series(text, SESSIONS, "route", "outcome").items() if v}
    assert outcomes == dict(expected.outcomes), context
    closes = {k: v for k, v in series(text, CLOSES, "route", "code", "initiator").items() if v}
    assert closes == {(ECHO, *key): n for key, n in expected.closes.items()}, context
    assert series(text, MESSAGES, "route", "direction", "kind") == {
        (ECHO, direction, k): expected.messages[(direction, k)]
        for direction in ("received", "sent")
        for k in ("text", "binary")
    } | {(REJECT, direction, k): 0 for direction in ("received", "sent") for k in ("text", "binary")}
    assert series(text, BYTES, "route", "direction") == {
        (ECHO, "received"): expected.payload["received"],
        (ECHO, "sent"): expected.payload["sent"],
        (REJECT, "received"): 0,
        (REJECT, "sent"): 0,
    }
    accepted = expected.outcomes[(ECHO, "accepted")]
    assert accepted == 40
    assert series(text, DURATION_COUNT, "route") == {(ECHO,): accepted, (REJECT,): 0}
    assert series(text, BLOCKING_COUNT, "route") == {(ECHO,): accepted, (REJECT,): 10}
    assert series(text, ACTIVE, "route") == {(ECHO,): 0}
    assert value(text, EXCEPTIONS) == 0, context
    assert value(text, "gatewatch_internal_errors_total") == 0, context
    # No session (nor /metrics, nor the ready probe) in the HTTP metrics.
    assert value(text, "gatewatch_http_request_duration_seconds_count") == 0
    assert value(text, "gatewatch_info", interface="asgi", server=spec.info_server) == 1


# -- Transparency and blocking time (uvicorn, bare app next to the wrapped one) --------------


@dataclass(frozen=True)
class Pair:
    bare: ServerProcess
    wrapped: ServerProcess


@pytest.fixture(scope="module")
def uvicorn_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    logs = tmp_path_factory.mktemp("uvicorn-pair")
    bare_port, wrapped_port = free_port(), free_port()
    with (
        ServerProcess(
            uvicorn_command(BARE, bare_port),
            port=bare_port,
            ready_path="/fast",
            cwd=ROOT,
            log_path=logs / "bare.log",
        ) as bare,
        ServerProcess(
            uvicorn_command(WRAPPED, wrapped_port),
            port=wrapped_port,
            ready_path="/metrics",
            cwd=ROOT,
            log_path=logs / "wrapped.log",
        ) as wrapped,
    ):
        yield Pair(bare, wrapped)


ECHO_PAYLOADS: tuple[str | bytes, ...] = (
    "plain",
    "non-ASCII: héllo wörld, ünïcödé, 日本語, emoji 🚀, combining e\u0301, NUL \x00 inside",
    "",
    bytes(range(256)),
    bytes(range(256)) * 400,  # 100 KiB, fragmented on the wire
    b"",
)


async def transparency_probe(server: ServerProcess) -> dict[str, Any]:
    """What a client observes of the app: echoes, subprotocols, handshake headers, refusals."""
    seen: dict[str, Any] = {}
    async with await open_ws(ws_url(server, ECHO), subprotocols=["other", "echo.v1"]) as ws:
        echoes: list[str | bytes] = []
        for payload in ECHO_PAYLOADS:
            await ws.send(payload)
            echoes.append(await asyncio.wait_for(ws.recv(), TIMEOUT))
        seen["echoes"] = echoes
        seen["subprotocol"] = ws.subprotocol
        assert ws.response is not None
        seen["x-echo"] = ws.response.headers.get_all("x-echo")
        seen["handshake_status"] = ws.response.status_code
    async with await open_ws(ws_url(server, ECHO)) as ws:
        seen["subprotocol_not_offered"] = ws.subprotocol
        assert ws.response is not None
        seen["x-echo_not_offered"] = ws.response.headers.get_all("x-echo")
    async with await open_ws(ws_url(server, ECHO)) as ws:
        await ws.send(CLOSE_COMMAND)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        seen["server_close"] = (ws.close_code, ws.close_reason)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as client:
        response = await client.get(ECHO)
        seen["http_get_ws_route"] = (
            response.status_code,
            response.content,
            response.headers.get("content-type"),
        )
    for path in ("/fast", REJECT):
        try:
            await open_ws(ws_url(server, path))
        except InvalidStatus as exc:
            seen[f"ws_{path}"] = (type(exc).__name__, exc.response.status_code, exc.response.body)
        else:
            seen[f"ws_{path}"] = "accepted"
    return seen


def test_uvicorn_transparency(uvicorn_pair: Pair) -> None:
    bare = asyncio.run(transparency_probe(uvicorn_pair.bare))
    wrapped = asyncio.run(transparency_probe(uvicorn_pair.wrapped))
    assert wrapped == bare
    # ... and what both show is what the app does.
    assert wrapped["echoes"] == list(ECHO_PAYLOADS)
    assert [type(e) for e in wrapped["echoes"]] == [type(p) for p in ECHO_PAYLOADS]
    assert wrapped["subprotocol"] == "echo.v1"
    assert wrapped["x-echo"] == ["1"]
    assert wrapped["handshake_status"] == 101
    assert wrapped["subprotocol_not_offered"] is None
    assert wrapped["x-echo_not_offered"] == ["1"]
    assert wrapped["server_close"] == (SERVER_CLOSE_CODE, "")
    assert wrapped["http_get_ws_route"][0] == 404
    assert wrapped["ws_/fast"][:2] == ("InvalidStatus", 403)
    assert wrapped["ws_/ws/reject"][:2] == ("InvalidStatus", 403)


def test_uvicorn_blocking_session(uvicorn_pair: Pair) -> None:
    server = uvicorn_pair.wrapped
    sent = 10

    async def chat() -> None:
        async with await open_ws(ws_url(server, BLOCKING)) as ws:
            for index in range(sent):
                await ws.send(f"m{index}")
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == f"m{index}"

    before = value(scrape(server.base_url, timeout=TIMEOUT), BLOCKING_COUNT, route=BLOCKING)
    asyncio.run(chat())
    text = scrape_until(
        server.base_url, lambda t: value(t, BLOCKING_COUNT, route=BLOCKING) == before + 1, TIMEOUT
    )
    assert value(text, BLOCKING_COUNT, route=BLOCKING) == before + 1
    # time.sleep(0.01) on the loop for every message.
    assert value(text, BLOCKING_SUM, route=BLOCKING) >= sent * 0.01
    assert value(text, MESSAGES, route=BLOCKING, direction="received", kind="text") >= sent
    assert value(text, CLOSES, route=BLOCKING, code="1000", initiator="client") >= 1
