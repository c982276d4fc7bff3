"""Under real servers: no header decides who reads the live view. Behind nginx with its defaults
(``proxy_pass`` sends ``Host: $proxy_host``, a loopback host, from a loopback peer, and no
forwarding header) and behind a plain TCP forwarder, a stranger gets no live data without the
token, and the token's bearer gets it; the servers' own users read it from the local owner-only
directory, as ``gatewatch top`` with no URL does. And gatewatch's own pages under ``--root-path``."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
from gatewatch_dashboard.sources import DirectorySource

from gatewatch.demo.servers import (
    LOOPBACK,
    ServerProcess,
    free_port,
    gunicorn_command,
    hypercorn_command,
    uvicorn_command,
)
from gatewatch.export.live.local_dir import server_dirs
from tests.support.live_support import BEARER, TOKEN_ENV
from tests.support.scrape import value
from tests.support.traffic import ROOT

pytestmark = pytest.mark.slow

APP = "examples.starlette_app:wrapped"
WSGI_APP = "examples.flask_app:wrapped"
LIVE = "/_gatewatch/live.json"
SHARED_DIRS = ("GATEWATCH_LIVE_DIR", "PROMETHEUS_MULTIPROC_DIR")
NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None
)


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


# -- nginx, as deployed with its defaults -------------------------------------------------------

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
{servers}
}}
"""
# The minimal site: no proxy_set_header, so nginx sends Host: 127.0.0.1:<port> and no
# X-Forwarded-For, from 127.0.0.1.
NGINX_SITE = """
    server {{
        listen {host}:{port};
        location / {{ proxy_pass http://{host}:{backend}; }}
    }}
"""


class Site:
    """One real server and the nginx port in front of it."""

    def __init__(self, name: str, server: ServerProcess, front: int, token: bool) -> None:
        self.name = name
        self.server = server
        self.front = front
        self.token = token

    @property
    def through_nginx(self) -> str:
        return f"http://{LOOPBACK}:{self.front}{LIVE}"


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Site]]:
    """uvicorn and gunicorn (one sync worker), each without and with a live_token."""
    directory = tmp_path_factory.mktemp("backends")
    with ExitStack() as stack:
        sites = []
        for name, make, app in (("uvicorn", uvicorn_command, APP), ("gunicorn", gunicorn_command, WSGI_APP)):
            for token in (False, True):
                port = free_port()
                server = ServerProcess(
                    make(app, port),
                    port=port,
                    ready_path="/metrics",
                    cwd=ROOT,
                    env=TOKEN_ENV if token else None,
                    log_path=directory / f"{name}-{port}.log",
                )
                # Deployed as a user would: no snapshot directory, no token unless given.
                for variable in (*SHARED_DIRS, "prometheus_multiproc_dir"):
                    server.env.pop(variable, None)
                if not token:
                    server.env.pop("GATEWATCH_LIVE_TOKEN", None)
                stack.enter_context(server)
                sites.append(Site(name, server, free_port(), token))
        yield sites


@pytest.fixture(scope="module")
def sites(backends: list[Site], tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Site]]:
    """nginx on 127.0.0.1 in front of every backend, with its default proxy settings."""
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    directory = tmp_path_factory.mktemp("nginx")
    sites = backends
    with ExitStack() as stack:
        servers = "".join(
            NGINX_SITE.format(host=LOOPBACK, port=site.front, backend=site.server.port) for site in sites
        )
        config = directory / "nginx.conf"
        config.write_text(NGINX_CONF.format(dir=directory, servers=servers))
        nginx = ServerProcess(
            [NGINX, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log")],
            port=sites[0].front,
            ready_path="/metrics",
            log_path=directory / "nginx.log",
        )
        stack.enter_context(nginx)
        yield sites


@pytest.mark.parametrize("name", ["uvicorn", "gunicorn"])
def test_behind_nginx_defaults_a_stranger_gets_no_live_data(sites: list[Site], name: str) -> None:
    """What the stranger's request looks like to the server: loopback peer, loopback Host."""
    [open_site] = [site for site in sites if site.name == name and not site.token]
    [token_site] = [site for site in sites if site.name == name and site.token]
    with httpx.Client(timeout=10) as client:
        # The proxy really passes requests on: the app answers through it.
        assert client.get(f"http://{LOOPBACK}:{open_site.front}/fast").status_code == 200
        # No token configured: nobody gets the view over HTTP, through nginx or not.
        for url in (open_site.through_nginx, open_site.server.base_url + LIVE):
            refused = client.get(url)
            assert refused.status_code == 403, refused.text
            assert "processes" not in refused.text and "live_token" in refused.json()["error"]
        # A token configured: without it, nothing; with it, the view, through nginx too.
        refused = client.get(token_site.through_nginx)
        assert refused.status_code == 401 and "processes" not in refused.text
        wrong = {"Authorization": "Bearer wrong"}
        assert client.get(token_site.through_nginx, headers=wrong).status_code == 401
        allowed = client.get(token_site.through_nginx, headers=BEARER)
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["processes"]


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return None
    return int(stat[stat.rindex(b")") + 2 :].split()[1])


def test_gatewatch_top_reads_the_local_directory_without_a_token(backends: list[Site]) -> None:
    """Every server's own user sees it without HTTP: its directory is among the ones ``gatewatch
    top`` finds with no URL, and reading it shows the server's process and its requests."""
    sites = backends
    with httpx.Client(timeout=10) as client:
        for site in sites:
            assert client.get(site.server.base_url + "/fast").status_code == 200

    def seen() -> dict[int, dict[str, object]]:
        found = {}
        for directory in server_dirs():
            reading = asyncio.run(DirectorySource(directory).read())
            if reading.view is not None:
                for process in reading.view["processes"]:
                    found[process["pid"]] = dict(process)
        return found

    # Written every half second by each server's writer thread.
    deadline = time.monotonic() + 15
    while True:
        processes = seen()
        # uvicorn serves in its own process; gunicorn in a worker it forked.
        owners = {_parent(pid) if pid not in {s.server.pid for s in sites} else pid for pid in processes}
        if all(site.server.pid in owners for site in sites) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for site in sites:
        [process] = [process for pid, process in processes.items() if site.server.pid in (pid, _parent(pid))]
        routes = [request["route_label"] for request in process["recent"]]  # type: ignore[attr-defined]
        assert "/fast" in routes, (site.name, routes)
    for directory in server_dirs():
        assert os.stat(directory).st_mode & 0o777 == 0o700
        assert os.stat(os.path.dirname(directory)).st_mode & 0o777 == 0o700


def test_a_tcp_forwarder_makes_no_one_local(backends: list[Site]) -> None:
    """Bytes in, bytes out (HAProxy in TCP mode, socat, an SSH tunnel): whatever Host is asked."""
    [open_site] = [site for site in backends if site.name == "uvicorn" and not site.token]
    [token_site] = [site for site in backends if site.name == "uvicorn" and site.token]
    with httpx.Client(timeout=5) as client:
        for site, expected in ((open_site, 403), (token_site, 401)):
            with TcpForwarder(site.server.port) as forwarder:
                through = f"http://{LOOPBACK}:{forwarder.port}{LIVE}"
                for host in ("gatewatch.example.com", "127.0.0.1", "localhost"):
                    refused = client.get(through, headers={"Host": host})
                    assert refused.status_code == expected and "processes" not in refused.text
                if site.token:
                    assert client.get(through, headers=BEARER).json()["processes"]


@pytest.mark.parametrize("make_command", [uvicorn_command, hypercorn_command])
def test_own_pages_under_a_root_path(make_command: object) -> None:
    port = free_port()
    command = make_command(APP, port, "--root-path", "/api")  # type: ignore[operator]
    with (
        ServerProcess(command, port=port, ready_path="/metrics", cwd=ROOT, env=TOKEN_ENV) as running,
        httpx.Client(base_url=running.base_url, timeout=5, headers=BEARER) as client,
    ):
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and "# TYPE gatewatch_" in metrics.text
        live = client.get(LIVE)
        assert live.status_code == 200 and "processes" in live.json()
        # gatewatch's pages are not the app's requests.
        assert value(client.get("/metrics").text, "gatewatch_http_request_duration_seconds_count") == 0
