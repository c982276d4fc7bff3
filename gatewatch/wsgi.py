"""The WSGI middleware: one record per request, from the call until the response body ended."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from threading import get_ident
from time import perf_counter, thread_time, time
from typing import Any, cast

from prometheus_client.registry import CollectorRegistry

from gatewatch import frameworks
from gatewatch.app_check import check_wsgi_app
from gatewatch.hub import connect
from gatewatch.live.endpoint import live_wsgi_app
from gatewatch.live.state import live_state_for
from gatewatch.monitor import Monitor
from gatewatch.options import DEFAULT, Default, keyword_options
from gatewatch.paths import EXCLUDED, special_paths
from gatewatch.prometheus.exposition import metrics_wsgi_app
from gatewatch.record import WSGI, RequestRecord, current_record
from gatewatch.request_queue import environ_key, queue_seconds
from gatewatch.types import Environ, ExcInfo, StartResponse, Write, WSGIApp
from gatewatch.wsgi_input import CountingInput
from gatewatch.wsgi_workers import threads_from_environ, worker_threads


class GatewatchWSGI:
    """Wrap a WSGI application to record every request it serves (PEP 3333).

    A request holds its worker from the call until its response ended: the body iterable
    is exhausted, or a ``wsgi.file_wrapper`` response is closed. That is its duration and
    its blocking time, and it leaves in-flight then. What the server's later ``close()``
    runs (the app's clean-up) is recorded apart, as after-response time. A response
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
        registry: CollectorRegistry | Default | None = DEFAULT,
        max_routes: int | Default = DEFAULT,
        metrics_path: str | Default | None = DEFAULT,
        cpu_time: bool | Default = DEFAULT,
        live_path: str | Default | None = DEFAULT,
        live_token: str | Default | None = DEFAULT,
        queue_time_header: str | Default | None = DEFAULT,
        worker_threads: int | Default | None = DEFAULT,
        exclude_paths: Iterable[str] | Default = DEFAULT,
        histograms: Iterable[str] | Default | None = DEFAULT,
        buckets: Mapping[str, Sequence[float]] | Default = DEFAULT,
        otel: bool | Default = DEFAULT,
        tracer_provider: Any = DEFAULT,
        meter_provider: Any = DEFAULT,
        otel_url_query: bool | Default = DEFAULT,
    ) -> None:
        """Every option is described in :class:`gatewatch.options.Options`; one left out comes
        from the ``GATEWATCH_*`` environment, then the wrapped Django project's settings, then
        the default there."""
        # The keyword arguments as given (before any other local exists), by option name.
        given = keyword_options(locals())
        check_wsgi_app(app)
        framework = frameworks.for_wsgi(app)
        options = framework.options(given)
        setup = connect(options, interface=WSGI, monitor=monitor)
        self.app: WSGIApp = app
        if setup.otel is not None:
            # otel=True only: the app is called with the request's span current
            # (gatewatch.otel.entry); off, nothing changes.
            from gatewatch.otel.entry import TracedWSGI

            self.app = TracedWSGI(app, setup.otel)
        self.options = options
        self.monitor = setup.monitor
        self._cpu_clock = thread_time if options.cpu_time else _no_cpu_clock
        header = options.queue_header(WSGI)
        self._queue_key = environ_key(header) if header is not None else None
        self._worker_threads = options.worker_threads
        # The capacity is learnt in the process that serves (after gunicorn's fork).
        self._capacity_pending = True
        # gatewatch's own pages, answered before counting (so they are never recorded), and
        # the paths left to the app unrecorded.
        self._paths = special_paths(
            options,
            metrics_page=lambda: metrics_wsgi_app(setup.registry),
            live_page=lambda: live_wsgi_app(live_state_for(setup.monitor), token=options.live_token),
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
        try:
            if self._capacity_pending:
                self._learn_capacity(environ)
            record = monitor.start(WSGI, environ.get("REQUEST_METHOD", ""), path)
            if self._queue_key is not None:
                stamp = environ.get(self._queue_key)
                if stamp is not None:
                    record.queue = queue_seconds(stamp, time())
            cpu_started = self._cpu_clock()
            stream = environ.get("wsgi.input")
            if stream is not None:
                environ["wsgi.input"] = CountingInput(stream, record)
        except Exception as exc:  # noqa: BLE001 - never let recording stop the request
            monitor.report_internal_error("wsgi.start", exc)
            return self.app(environ, start_response)
        token = current_record.set(record)
        finish = _Finisher(monitor, record, environ, cpu_started, self._cpu_clock)

        def start_response_counted(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Write:
            write = start_response(status, headers, exc_info)
            try:
                record.status = int(status[:3])
            except (TypeError, ValueError):
                record.status = 0

            def write_counted(data: bytes) -> object:
                if record.first_byte is None:
                    record.first_byte = perf_counter()
                result = write(data)
                record.response_bytes += len(data)
                return result

            return write_counted

        try:
            result = self.app(environ, start_response_counted)
        except BaseException as exc:
            _note_exception(record, exc)
            current_record.reset(token)
            finish()
            raise
        current_record.reset(token)
        try:
            return _watch_response(result, record, environ, finish)
        except Exception as exc:  # noqa: BLE001
            monitor.report_internal_error("wsgi.response", exc)
            # Unwatched, the response would never end for gatewatch: count it now rather than
            # leave it in flight for good.
            finish()
            return result

    def _learn_capacity(self, environ: Environ) -> None:
        self._capacity_pending = False
        threads = self._worker_threads or worker_threads() or threads_from_environ(environ)
        if threads is not None:
            self.monitor.note_worker_threads(threads)


def _no_cpu_clock() -> float:
    return 0.0


def _note_exception(record: RequestRecord, exc: BaseException) -> None:
    record.exception = exc
    if record.first_byte is None:
        # No body byte and no write() reached the server, so (PEP 3333) it has sent no
        # headers yet and answers 500 itself, whatever status the app had started.
        record.status = 500


class _Finisher:
    """Ends the request exactly once, whichever way it ends (body exhausted, close, exception,
    or a response dropped unclosed), then times what the server's ``close()`` runs after it."""

    __slots__ = ("_cpu_clock", "_cpu_started", "_environ", "_monitor", "_record", "_thread")

    def __init__(
        self,
        monitor: Monitor,
        record: RequestRecord,
        environ: Environ,
        cpu_started: float,
        cpu_clock: Callable[[], float],
    ) -> None:
        self._monitor = monitor
        self._record = record
        self._environ = environ
        self._cpu_started = cpu_started
        self._cpu_clock = cpu_clock
        self._thread = get_ident()

    def __call__(self, *, cpu: bool = True) -> None:
        record = self._record
        if record.finished:
            return
        try:
            record.end = end = perf_counter()
            # Under WSGI the worker is held for the whole request.
            record.blocking = record.longest_step = end - record.start
            if not cpu or self._cpu_clock is _no_cpu_clock or get_ident() != self._thread:
                record.cpu = None
            else:
                record.cpu = self._cpu_clock() - self._cpu_started
            if record.route is None:
                record.route = werkzeug_route(self._environ)
        except Exception as exc:  # noqa: BLE001
            self._monitor.report_internal_error("wsgi.finish", exc)
        # Never raises, and takes the request out of in-flight whatever failed above.
        self._monitor.finish(record)

    def after_response(self, exception: BaseException | None) -> None:
        self._monitor.after_response(self._record, perf_counter(), exception)


def werkzeug_route(environ: Environ) -> str | None:
    """The URL rule a plain Werkzeug app matched, if its request is still in the environ
    (Flask clears it; :mod:`gatewatch.flask` names Flask routes instead)."""
    request = environ.get("werkzeug.request")
    rule = getattr(request, "url_rule", None)
    template = getattr(rule, "rule", None)
    return template if isinstance(template, str) else None


def _watch_response(
    result: Iterable[bytes], record: RequestRecord, environ: Environ, finish: _Finisher
) -> Iterable[bytes]:
    file_wrapper = environ.get("wsgi.file_wrapper")
    if isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
        hooked = _hook_file_wrapper(result, record, finish)
        if hooked:
            return result
    # Decided once per response: an iterable without len() must not gain one (a server
    # would take len() == 0 or 1 at its word).
    if hasattr(result, "__len__"):
        return _SizedClosingIterator(result, record, finish)
    return ClosingIterator(result, record, finish)


def _hook_file_wrapper(result: Any, record: RequestRecord, finish: _Finisher) -> bool:
    """Keep the server's own file wrapper (so it may ``sendfile``) and learn when it closes:
    the server closes it once the file went out, so that is where its response ended."""
    original_close = getattr(result, "close", None)

    def close() -> None:
        try:
            if original_close is not None:
                original_close()
        finally:
            record.response_ended()
            finish()

    try:
        result.close = close
    except AttributeError:
        return False
    # The server may send the file itself; count what is left of it from where it stands.
    filelike = getattr(result, "filelike", None)
    with contextlib.suppress(AttributeError, OSError, ValueError, TypeError):
        record.response_bytes += max(os.fstat(filelike.fileno()).st_size - filelike.tell(), 0)  # type: ignore[union-attr]
    return True


class ClosingIterator:
    """Passes the response through chunk by chunk, counting it. The request is recorded when
    the body is exhausted; the server's ``close()`` after that is after-response work. Closed
    (or dropped) before the end, it is a client that left."""

    __slots__ = ("_closed", "_finish", "_iterable", "_iterator", "_record")

    def __init__(self, iterable: Iterable[bytes], record: RequestRecord, finish: _Finisher) -> None:
        self._closed = False
        self._iterable = iterable
        self._record = record
        self._finish = finish
        # iter() is called when the server iterates, not before, as it would be bare (a
        # PEP 3333 class-based app may call start_response in its __iter__).
        self._iterator: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        if self._iterator is None:
            try:
                self._iterator = iter(self._iterable)
            except BaseException as exc:
                _note_exception(self._record, exc)
                raise
        return self

    def __next__(self) -> bytes:
        record = self._record
        iterator = self._iterator
        if iterator is None:
            self.__iter__()
            iterator = self._iterator
            assert iterator is not None
        try:
            chunk = next(iterator)
        except StopIteration:
            if not record.finished:
                # The last byte is with the server: the response ended, the worker is free
                # as far as the client is concerned.
                record.response_ended()
                self._finish()
            raise
        except BaseException as exc:
            _note_exception(record, exc)
            raise
        if chunk and record.first_byte is None:
            record.first_byte = perf_counter()
        record.response_bytes += len(chunk)
        return chunk

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        record = self._record
        close = getattr(self._iterable, "close", None)
        if record.response_complete:
            raised: BaseException | None = None
            try:
                if close is not None:
                    close()
            except BaseException as exc:
                raised = exc
                raise
            finally:
                self._finish.after_response(raised)
            return
        try:
            if close is not None:
                close()
        except BaseException as exc:
            if record.exception is None:
                record.exception = exc
            raise
        finally:
            if record.exception is None:
                # The server stopped iterating before the end: the client went away.
                record.disconnected = True
            self._finish()

    def __del__(self) -> None:
        # Neither exhausted nor closed, and now unreachable: a test client's response dropped
        # unread, or a server that forgot close(). End it as close() would have (499 unless
        # the app raised) so that it does not stay in flight for good. The app's own close()
        # is not called: bare, nobody would have called it either. CPU time is unknown here.
        # (It runs for every response: __del__ with a bare try costs about 0.1-0.2 µs per
        # response, with contextlib.suppress 0.5 µs, a weakref.finalize registered and then
        # detached at close() about 1 µs.)
        try:
            if not self._closed and not self._record.finished:
                if self._record.exception is None:
                    self._record.disconnected = True
                self._finish(cpu=False)
        except Exception:  # noqa: BLE001 - a finalizer must never raise (it would only be printed)
            pass


class _SizedClosingIterator(ClosingIterator):
    """For a response iterable with ``len()``: waitress and wsgiref send a Content-Length
    (and keep the connection) when ``len(result) == 1``; without it waitress answers chunked
    with ``Connection: close`` and drops a pipelined request, wsgiref sends no length."""

    __slots__ = ()

    def __len__(self) -> int:
        return len(cast("Sized", self._iterable))
