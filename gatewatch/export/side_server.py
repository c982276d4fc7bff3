"""A small HTTP server beside the app (the ``side_address`` option): ``/metrics`` and the live
view answered from a thread of gatewatch's own, so they answer while every worker is busy.

Under a WSGI server, the in-app pages need a free worker, and a server whose workers are all
held by slow requests is exactly when an operator looks. prometheus-client's documentation for
gunicorn gives the usual answer, a server outside the workers; this is that server, also
serving the live view:

- in a single process (waitress' threads, wsgiref, a single uvicorn), a daemon thread of the
  process serves its registry and its :class:`~gatewatch.export.live.state.LiveState`;
- under gunicorn, gatewatch's hooks run it in the arbiter (``when_ready``), which serves no
  requests: ``/metrics`` merges the workers' multiprocess files, the live view merges their
  snapshot files (:mod:`gatewatch.export.live.snapshot_files`), written by each worker's own
  thread even while its requests hold it.

It answers ``GET`` on the ``metrics_path`` (``/metrics`` unless set) and the ``live_path``,
with the in-app endpoints' own apps: the same exposition, and the live view to bearers of
``live_token`` only (:mod:`gatewatch.export.live.endpoint`); 404 elsewhere. It binds
127.0.0.1 unless told otherwise, and never logs a request.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from gatewatch._address import parse_address
from gatewatch.export.live.endpoint import ViewSource, live_wsgi_app
from gatewatch.export.live.snapshot_files import merged_json
from gatewatch.types import Environ, StartResponse, WSGIApp

DEFAULT_METRICS_PATH = "/metrics"
DEFAULT_LIVE_PATH = "/_gatewatch/live.json"
_NOT_FOUND = b"not found: this server answers the metrics and the live view only\n"


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    # A scrape and a poll at once each get a thread; none outlives the process.
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        # Scrapes every few seconds would flood the server's output.
        pass


class DirectoryView:
    """The live view of the workers writing into ``directory``, read from a process serving no
    requests itself (gunicorn's arbiter)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def view_json(self) -> bytes:
        return merged_json(self.directory)


def side_app(
    *,
    metrics: WSGIApp,
    live: ViewSource | None,
    token: str | None,
    metrics_path: str | None,
    live_path: str | None,
) -> WSGIApp:
    """The side server's WSGI app: the metrics app at ``metrics_path``, the live view at
    ``live_path`` (unless ``live`` is None or the path is), 404 elsewhere."""
    pages: dict[str, WSGIApp] = {metrics_path or DEFAULT_METRICS_PATH: metrics}
    if live is not None and live_path is not None:
        pages[live_path] = live_wsgi_app(live, token=token)

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        page = pages.get(environ.get("PATH_INFO", ""))
        if page is None:
            start_response(
                "404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(_NOT_FOUND)))]
            )
            return [_NOT_FOUND]
        return page(environ, start_response)

    return app


class SideServer:
    """The side server of one process: bound at :meth:`start`, served by a daemon thread."""

    def __init__(self, address: str, app: WSGIApp) -> None:
        self.address = address
        self.host, self.port = parse_address(address)
        self._app = app
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve; OSError (the port taken, an address not of this host) propagates,
        for the caller to say in one line."""
        server_class = _Server6 if ":" in self.host else _Server
        self._server = make_server(
            self.host, self.port, self._app, server_class=server_class, handler_class=_QuietHandler
        )
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="gatewatch-side-server",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is not None:
            if self._thread is not None and self._thread.is_alive():
                server.shutdown()
            server.server_close()
        self._thread = None

    def after_fork(self) -> None:
        """In a forked child (gunicorn's workers, forked by the arbiter serving this): the
        thread is the parent's; the child lets go of the listening socket, without touching the
        parent's server."""
        server, self._server = self._server, None
        self._thread = None
        if server is not None:
            with contextlib.suppress(OSError):
                server.socket.close()
