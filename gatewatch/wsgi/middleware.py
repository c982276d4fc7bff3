"""The WSGI middleware: one record per request, from the call until its response is closed."""

from __future__ import annotations

from collections.abc import Iterable
from time import thread_time, time
from typing import Unpack

from gatewatch._app_check import check_wsgi_app
from gatewatch._lifecycle import Lifecycle
from gatewatch._multiprocess_dir import multiprocess_enabled
from gatewatch._paths import EXCLUDED, special_paths
from gatewatch._request_queue import environ_key, queue_seconds
from gatewatch.export.live.endpoint import live_wsgi_app
from gatewatch.export.prometheus.exposition import metrics_wsgi_app
from gatewatch.integrations import _frameworks as frameworks
from gatewatch.integrations._serving_server import wsgi_server
from gatewatch.monitor import Monitor
from gatewatch.options import WSGIKeywords, option_keywords
from gatewatch.record import WSGI, current_record
from gatewatch.runtime import Runtime
from gatewatch.types import Environ, StartResponse, WSGIApp
from gatewatch.wsgi import _workers as wsgi_workers
from gatewatch.wsgi._input import CountingInput
from gatewatch.wsgi._response import RequestEnd, note_exception, watch_response


class GatewatchWSGI(Lifecycle):
    """Wrap a WSGI application to record every request it serves (PEP 3333).

    A request holds its worker from the call until its response ended: the body iterable
    is exhausted, or a ``wsgi.file_wrapper`` response is closed. That is its duration and
    its blocking time, and it leaves in-flight then. It is recorded when the server closes
    it, with what that ``close()`` ran (the app's clean-up) as after-response time. A response
    closed before its end is a client that left (499); one the app failed before any body
    byte reached the server is the server's 500. A ``wsgi.file_wrapper`` response is
    handed back as the same object, so the server can still use ``sendfile``; any other
    response is wrapped, keeping ``len()`` when it has one (servers derive Content-Length
    from a one-element list).
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        monitor: Monitor | None = None,
        runtime: Runtime | None = None,
        **given: Unpack[WSGIKeywords],
    ) -> None:
        """Every option is declared in :class:`gatewatch.options.Options` (the keywords are
        typed by :class:`gatewatch.options.WSGIKeywords`); one left out comes
        from the ``GATEWATCH_*`` environment, then the wrapped Django project's settings, then
        the default there. ``runtime``: the :class:`~gatewatch.runtime.Runtime` giving the monitor
        (by default this process's)."""
        check_wsgi_app(app)
        framework = frameworks.for_wsgi(app)
        options = framework.options(option_keywords("GatewatchWSGI", WSGI, given))
        setup = self._start_up(options, monitor=monitor, runtime=runtime)
        self.app: WSGIApp = app
        if setup.otel is not None:
            # otel=True only: the app is called with the request's span current
            # (gatewatch.export.otel.entry); off, nothing changes.
            from gatewatch.export.otel.entry import TracedWSGI

            self.app = TracedWSGI(app, setup.otel)
        # Flask names the route when the app starts its response (gatewatch.integrations.flask).
        self._name_route = framework.name_route
        header = options.queue_header(WSGI)
        self._queue_key = environ_key(header) if header is not None else None
        self._worker_threads = options.worker_threads
        # Known from the start when it can be: gunicorn's post_worker_init (which runs in the
        # worker after the app is loaded), the option (not in multiprocess mode, where this
        # may be a --preload arbiter that serves nothing), or a hook that already ran here.
        self._capacity = self.runtime.worker_capacity
        self._capacity.when_known(self._learn_capacity)
        if self._capacity.threads is not None or (options.worker_threads and not multiprocess_enabled()):
            self._learn_capacity()
        # The server, the capacity and the first sampling gap are learnt in the process
        # that serves (after gunicorn's fork), at its first request.
        self._first_call = True
        # gatewatch's own pages, answered before counting (so they are never recorded), and
        # the paths left to the app unrecorded.
        self._paths = special_paths(
            options,
            metrics_page=lambda: metrics_wsgi_app(setup.registry),
            live_page=lambda: live_wsgi_app(self.runtime.live_state(setup.monitor), token=options.live_token),
            also_excluded=framework.own_paths,
        )

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if self._paths.active:
            special = self._paths.find(path)
            if special is not None:
                if special is EXCLUDED:
                    return self.app(environ, start_response)
                return special(environ, start_response)  # type: ignore[operator]
        monitor = self.monitor
        if self._first_call:
            self._learn_process(environ)
        record = self._begin(monitor, WSGI, environ.get("REQUEST_METHOD", ""), path)
        if record is None:
            return self.app(environ, start_response)
        try:
            if self._queue_key is not None:
                stamp = environ.get(self._queue_key)
                if stamp is not None:
                    record.queue = queue_seconds(stamp, time())
            cpu_started = None if record.cpu is None else thread_time()
            # Only a request with a length or a chunked body has one to count (RFC 9112 6.3):
            # most requests are spared the wrapper.
            if environ.get("CONTENT_LENGTH") or "HTTP_TRANSFER_ENCODING" in environ:
                stream = environ.get("wsgi.input")
                if stream is not None:
                    environ["wsgi.input"] = CountingInput(stream, record)
        except Exception as exc:  # noqa: BLE001 - never let recording stop the request
            monitor.report_internal_error("wsgi.start", exc)
            # Counted in flight already: recorded as it ends, without its details.
            record.cpu = None
            cpu_started = None
        # For the live view: Werkzeug and Flask keep their request, and its route, there while
        # the app runs (gatewatch.wsgi._routes); dropped when the request leaves in-flight.
        record.scope = environ
        token = current_record.set(record)
        end = RequestEnd(monitor, record, environ, cpu_started, start_response, self._name_route)

        try:
            result = self.app(environ, end.start_response)
        except BaseException as exc:
            note_exception(record, exc)
            current_record.reset(token)
            end.finish()
            raise
        current_record.reset(token)
        try:
            return watch_response(result, environ, end)
        except Exception as exc:  # noqa: BLE001
            monitor.report_internal_error("wsgi.response", exc)
            # Unwatched, the response would never end for gatewatch: count it now rather than
            # leave it in flight for good.
            end.finish()
            return result

    def _learn_process(self, environ: Environ) -> None:
        """The first request of this process: the server that sent it, this process's first
        sampling gap, and its capacity if still unknown (a single-threaded server says so)."""
        self._first_call = False
        self._draw_first_gap()
        try:
            self.monitor.note_server(WSGI, wsgi_server(environ))
            self._learn_capacity(environ)
        except Exception as exc:  # noqa: BLE001 - never let recording stop the request
            self.monitor.report_internal_error("wsgi.server", exc)

    def _learn_capacity(self, environ: Environ | None = None) -> None:
        threads = self._worker_threads or self._capacity.threads
        if threads is None and environ is not None:
            threads = wsgi_workers.threads_from_environ(environ)
        if threads is not None:
            self.monitor.note_worker_threads(threads)
