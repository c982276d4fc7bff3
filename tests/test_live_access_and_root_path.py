"""Under real uvicorn: the live view behind a plain TCP forwarder (every client looks like
loopback, the Host it asked for does not), and gatewatch's own pages under ``--root-path``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

from gatewatch.demo.servers import (
    LOOPBACK,
    ServerProcess,
    free_port,
    hypercorn_command,
    uvicorn_command,
)
from tests.support.scrape import value
from tests.support.traffic import ROOT

pytestmark = pytest.mark.slow

APP = "examples.starlette_app:wrapped"
LIVE = "/_gatewatch/live.json"


class TcpForwarder:
    """Bytes in, bytes out, no headers added: HAProxy in TCP mode, ``socat``, an SSH tunnel."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(LOOPBACK, self.target_port)
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer), return_exceptions=True
        )

    def __enter__(self) -> TcpForwarder:
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, LOOPBACK, self.port), self._loop
        )
        self._thread.start()
        self._server = server.result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shut_down() -> None:
            self._server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut_down(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    port = free_port()
    with ServerProcess(uvicorn_command(APP, port), port=port, ready_path="/metrics", cwd=ROOT) as running:
        yield running


def test_a_tcp_forwarder_does_not_make_the_world_local(server: ServerProcess) -> None:
    with TcpForwarder(server.port) as forwarder, httpx.Client(timeout=5) as client:
        through = f"http://{LOOPBACK}:{forwarder.port}{LIVE}"
        # The client asked for the public name; uvicorn sees a loopback peer.
        assert client.get(through, headers={"Host": "gatewatch.example.com"}).status_code == 403
        assert client.get(through, headers={"Host": "203.0.113.7:8000"}).status_code == 403
        # A tunnel used on purpose asks for a loopback host: local, as with `ssh -L`.
        assert client.get(through).status_code == 200
        assert client.get(through, headers={"Host": "localhost"}).status_code == 200
    direct = httpx.get(server.base_url + LIVE, timeout=5)
    assert direct.status_code == 200 and "processes" in direct.json()


@pytest.mark.parametrize("make_command", [uvicorn_command, hypercorn_command])
def test_own_pages_under_a_root_path(make_command: object) -> None:
    port = free_port()
    command = make_command(APP, port, "--root-path", "/api")  # type: ignore[operator]
    with (
        ServerProcess(command, port=port, ready_path="/metrics", cwd=ROOT) as running,
        httpx.Client(base_url=running.base_url, timeout=5) as client,
    ):
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and "# TYPE gatewatch_" in metrics.text
        live = client.get(LIVE)
        assert live.status_code == 200 and "processes" in live.json()
        # gatewatch's pages are not the app's requests.
        assert value(client.get("/metrics").text, "gatewatch_http_request_duration_seconds_count") == 0
