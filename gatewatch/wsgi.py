"""The WSGI middleware: one record per request, from the call until the iterable is closed."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from threading import get_ident
from time import perf_counter, thread_time, time
from typing import Any

from prometheus_client.registry import CollectorRegistry

from gatewatch.exposition import metrics_wsgi_app
from gatewatch.flask import annotate_flask, flask_app_of
from gatewatch.live import live_state_for
from gatewatch.live_endpoint import live_wsgi_app
from gatewatch.monitor import Monitor
from gatewatch.options import DEFAULT_LIVE_PATH, resolve
from gatewatch.record import WSGI, RequestRecord, current_record
from gatewatch.request_queue import DEFAULT_HEADER as DEFAULT_QUEUE_HEADER
from gatewatch.request_queue import check_header, environ_key, queue_seconds
from gatewatch.wsgi_input import CountingInput
from gatewatch.wsgi_types import Environ, ExcInfo, StartResponse, Write, WSGIApp
from gatewatch.wsgi_workers import check_worker_threads, threads_from_environ, worker_threads


class GatewatchWSGI:
    """Wrap a WSGI application to record every request it serves (PEP 3333).

    A request holds its worker from the call until the server calls the response
    iterable's ``close()``; that is its duration and its blocking time. A
    ``wsgi.file_wrapper`` response is handed back as the same object, so the server
    can still use ``sendfile``.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        registry: CollectorRegistry | None = None,
        monitor: Monitor | None = None,
        max_routes: int = 500,
        metrics_path: str | None = None,
        cpu_time: bool = True,
        live_path: str | None = DEFAULT_LIVE_PATH,
        live_token: str | None = None,
        queue_time_header: str | None = DEFAULT_QUEUE_HEADER,
        worker_threads: int | None = None,
    ) -> None:
        check_header("queue_time_header", queue_time_header)
        check_worker_threads("worker_threads", worker_threads)
        setup = resolve(
            interface=WSGI,
            registry=registry,
            monitor=monitor,
            max_routes=max_routes,
            metrics_path=metrics_path,
            cpu_time=cpu_time,
            live_path=live_path,
            live_token=live_token,
        )
        self.app = app
        self.monitor = setup.monitor
        flask_app = flask_app_of(app)
        if flask_app is not None:
            annotate_flask(flask_app)
        self._cpu_clock = thread_time if cpu_time else _no_cpu_clock
        self._queue_key = environ_key(queue_time_header) if queue_time_header is not None else None
        self._worker_threads = worker_threads
        # The capacity is learnt in the process that serves (after gunicorn's fork).
        self._capacity_pending = True
        # gatewatch's own pages, answered before counting (so they are never recorded).
        self._own_pages: dict[str, WSGIApp] = {}
        if metrics_path is not None:
            self._own_pages[metrics_path] = metrics_wsgi_app(setup.registry)
        if live_path is not None:
            self._own_pages[live_path] = live_wsgi_app(live_state_for(setup.monitor), token=live_token)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in self._own_pages:
            return self._own_pages[path](environ, start_response)
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
            record.exception = exc
            current_record.reset(token)
            finish()
            raise
        current_record.reset(token)
        try:
            return _watch_response(result, record, environ, finish)
        except Exception as exc:  # noqa: BLE001
            monitor.report_internal_error("wsgi.response", exc)
            return result

    def _learn_capacity(self, environ: Environ) -> None:
        self._capacity_pending = False
        threads = self._worker_threads or worker_threads() or threads_from_environ(environ)
        if threads is not None:
            self.monitor.note_worker_threads(threads)


def _no_cpu_clock() -> float:
    return 0.0


class _Finisher:
    """Ends the request exactly once, whichever way it ends (close, exception, error)."""

    __slots__ = ("_cpu_clock", "_cpu_started", "_done", "_environ", "_monitor", "_record", "_thread")

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
        self._done = False

    def __call__(self) -> None:
        if self._done:
            return
        self._done = True
        record = self._record
        try:
            record.end = end = perf_counter()
            # Under WSGI the worker is held for the whole request.
            record.blocking = record.longest_step = end - record.start
            if self._cpu_clock is _no_cpu_clock or get_ident() != self._thread:
                record.cpu = None
            else:
                record.cpu = self._cpu_clock() - self._cpu_started
            if record.route is None:
                record.route = werkzeug_route(self._environ)
            self._monitor.finish(record)
        except Exception as exc:  # noqa: BLE001
            self._monitor.report_internal_error("wsgi.finish", exc)


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
    return ClosingIterator(result, record, finish)


def _hook_file_wrapper(result: Any, record: RequestRecord, finish: _Finisher) -> bool:
    """Keep the server's own file wrapper (so it may ``sendfile``) and learn when it closes."""
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
    """Passes the response through chunk by chunk, counting it, and finishes on ``close()``."""

    __slots__ = ("_closed", "_finish", "_iterable", "_iterator", "_record")

    def __init__(self, iterable: Iterable[bytes], record: RequestRecord, finish: _Finisher) -> None:
        self._iterable = iterable
        self._record = record
        self._finish = finish
        self._closed = False
        try:
            self._iterator: Iterator[bytes] = iter(iterable)
        except BaseException as exc:
            record.exception = exc
            self.close()
            raise

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        record = self._record
        try:
            chunk = next(self._iterator)
        except StopIteration:
            record.response_ended()
            raise
        except BaseException as exc:
            record.exception = exc
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
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            if record.exception is None:
                record.exception = exc
            raise
        finally:
            if not record.response_complete and record.exception is None:
                # The server stopped iterating before the end: the client went away.
                record.disconnected = True
            self._finish()
