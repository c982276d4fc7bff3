"""The ASGI middleware: one record per HTTP request, everything else passed through untouched."""

from __future__ import annotations

import weakref
from asyncio import AbstractEventLoop
from asyncio.events import _get_running_loop
from time import perf_counter, time
from typing import Any, Final, Unpack

from gatewatch._app_check import check_asgi_app
from gatewatch._build import compiled
from gatewatch._lifecycle import Lifecycle, app_cancelled, app_raised
from gatewatch._paths import EXCLUDED, special_paths
from gatewatch._request_queue import queue_seconds
from gatewatch.asgi import _offload as thread_offload
from gatewatch.asgi._client_gone import client_gone
from gatewatch.asgi._exchange import FinalizingExchange, HTTPExchange
from gatewatch.asgi._read_only import read_only
from gatewatch.asgi._routes import route_template
from gatewatch.asgi._step_timer import timer_class
from gatewatch.asgi._websocket import serve_websocket
from gatewatch.export.live.endpoint import live_asgi_app
from gatewatch.export.prometheus.exposition import metrics_asgi_app
from gatewatch.integrations import _frameworks as frameworks
from gatewatch.integrations._serving_server import calling_server
from gatewatch.monitor import Monitor
from gatewatch.options import ASGIKeywords, option_keywords
from gatewatch.record import ASGI, RequestRecord, current_record
from gatewatch.runtime import Runtime
from gatewatch.types import Receive, Scope, Send, WrappedASGIApp

# Compiled, a dropped request's coroutine is freed without being closed: its exchange finishes it.
_COMPILED: Final = compiled()


class GatewatchASGI(Lifecycle):
    """Wrap an ASGI application to record every HTTP request and WebSocket session it serves.

    ``lifespan`` and unknown scope types go straight to the app (the first scope of any
    type on a new event loop starts gatewatch's probe of that loop). Errors
    inside gatewatch are counted in ``gatewatch_internal_errors_total`` and never
    reach the app or the client; the app's own exceptions propagate unchanged.
    """

    def __init__(
        self,
        app: WrappedASGIApp,
        *,
        monitor: Monitor | None = None,
        runtime: Runtime | None = None,
        **given: Unpack[ASGIKeywords],
    ) -> None:
        """Every option is declared in :class:`gatewatch.options.Options` (the keywords are
        typed by :class:`gatewatch.options.ASGIKeywords`); one left out comes
        from the ``GATEWATCH_*`` environment, then the wrapped Django project's settings, then
        the default there. ``runtime``: the :class:`~gatewatch.runtime.Runtime` giving the monitor
        (by default this process's)."""
        check_asgi_app(app)
        framework = frameworks.for_asgi(app)
        options = framework.options(option_keywords("GatewatchASGI", ASGI, given))
        setup = self._start_up(options, monitor=monitor, runtime=runtime)
        # Any return: servers act on what the app returns (lifespan, unknown scopes), and the
        # compiled build checks annotations at run time.
        self.app: WrappedASGIApp = app
        if setup.otel is not None:
            # otel=True only: the app is called through an entry point that starts the
            # request's span and makes it current (gatewatch.export.otel.entry); off, nothing changes.
            from gatewatch.export.otel.entry import TracedASGI

            self.app = TracedASGI(app, setup.otel)
        self._timer = timer_class(cpu_time=False, block_threshold=options.block_threshold)
        self._cpu_timer = timer_class(cpu_time=True, block_threshold=options.block_threshold)
        if options.track_offload:
            thread_offload.install()
        # ASGI header names are lower-case bytes.
        header = options.queue_header(ASGI)
        self._queue_header = header.lower().encode() if header else None
        # gatewatch's own pages, answered before counting (so they are never recorded), and
        # the paths left to the app unrecorded.
        self._paths = special_paths(
            options,
            metrics_page=lambda: metrics_asgi_app(setup.registry),
            live_page=lambda: live_asgi_app(self.runtime.live_state(setup.monitor), token=options.live_token),
            also_excluded=framework.own_paths,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        # HTTP is served inline here rather than in a helper coroutine: one coroutine
        # frame less per request on the hottest path. Whatever the app returns is returned:
        # servers act on it (uvicorn closes the connection when it is not None).
        fields = read_only(scope)  # read only, before the app: sent on as it came
        kind = fields["type"]
        loop = _get_running_loop()  # None under trio: loop measurements need asyncio
        if loop is not self._watched_loop:
            self._watch(loop)
        if kind != "http":
            if kind == "websocket":
                return await serve_websocket(self.app, self.monitor, self._timer, scope, receive, send)
            return await self.app(scope, receive, send)
        try:  # subscripts: cheaper than .get() calls on every request
            path = fields["path"]
            method = fields["method"]
        except KeyError:
            # A server may leave out what ASGI says it must send: served as the bare app
            # would be, and counted under <unmatched> (no route names it).
            path, method = fields.get("path", ""), fields.get("method", "")
        root_path = fields.get("root_path", "")
        if self._paths.active:
            special = self._paths.find(path, root_path)
            if special is not None:
                if special is EXCLUDED:
                    return await self.app(scope, receive, send)
                return await special(scope, receive, send)  # type: ignore[operator]
        monitor = self.monitor
        record = self._begin(monitor, ASGI, method, path)
        if record is None:
            return await self.app(scope, receive, send)
        if self._queue_header is not None:
            self._note_queue(record, scope)
        # For the live view: a router names the route in the scope while the request runs.
        record.scope, record.root_path = scope, root_path
        token = current_record.set(record)

        if _COMPILED:
            exchange: HTTPExchange = FinalizingExchange(record, monitor, receive, send)
        else:
            exchange = HTTPExchange(record, monitor, receive, send)

        try:
            coroutine = self.app(scope, exchange.receive, exchange.send)
            # For the live view (what it awaits now), when there is one, held weakly: the
            # live view keeps its in-flight records, and a request whose task is dropped must
            # still be collected, closed and counted.
            if monitor.shows_in_flight:
                try:  # noqa: SIM105 - contextlib.suppress costs a context manager per request
                    record.coroutine = weakref.ref(coroutine)
                except TypeError:  # an awaitable that takes no weak reference: not shown
                    pass
            timer = self._timer if record.cpu is None else self._cpu_timer
            result = await timer(coroutine, record)
            if not record.response_complete and not record.disconnected and client_gone(send):
                # Returned without ending a response the client had already left.
                record.disconnected = True
            return result
        except Exception as exc:
            app_raised(record, exc)
            raise
        except BaseException:
            app_cancelled(record)
            raise
        finally:
            returned = perf_counter()
            try:
                current_record.reset(token)
            except Exception as exc:  # noqa: BLE001 - e.g. a coroutine closed in another context
                monitor.report_internal_error("asgi.reset", exc)
            try:
                if record.route is None:
                    record.route = route_template(scope, root_path)
            except Exception as exc:  # noqa: BLE001
                monitor.report_internal_error("asgi.route", exc)
            # Never raises: the request leaves in-flight and is counted, once, with the time
            # the application went on after its response ended.
            monitor.finish(record, returned)
            # Read here so that the coroutine holds the exchange to its end: compiled, a local no
            # longer read is not kept across an await, and the exchange, freed (so finalized:
            # FinalizingExchange) before this finally, would finish the request as dropped.
            _ = exchange

    def _note_queue(self, record: RequestRecord, scope: Scope) -> None:
        for name, value in scope.get("headers", ()):
            if name == self._queue_header:
                record.queue = queue_seconds(value, time())
                return

    def _watch(self, loop: AbstractEventLoop | None) -> None:
        """First request (or lifespan start-up) on a new loop: start its probe, once; and at the
        first of this process, note the server that called (it is in the calling frames) and
        draw the first sampling gap here (not in a parent process before a fork)."""
        if self._watched_loop is False:
            self._draw_first_gap()
            try:
                self.monitor.note_server(ASGI, calling_server())
            except Exception as exc:  # noqa: BLE001
                self.monitor.report_internal_error("asgi.server", exc)
        self._watch_loop(self.monitor, loop)
