"""Watching a WSGI response: where it ends, what it sent, and what the server's ``close()`` runs.

A request holds its worker until its response ended: the body iterable is exhausted, or a
``wsgi.file_wrapper`` response is closed. Its duration, blocking time and CPU time end
there, and it leaves in-flight. It is recorded when the server closes the response (PEP 3333
servers always do), with the time ``close()`` took as its after-response time, as an ASGI
request is recorded when its application returns. Closed before its end, it is a client
that left (499); dropped without a close, it is recorded when collected.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sized
from threading import get_ident
from time import perf_counter, thread_time
from typing import Any, Final, cast

from gatewatch.monitor import Monitor
from gatewatch.record import RequestRecord
from gatewatch.types import Environ, ExcInfo, StartResponse, Write
from gatewatch.wsgi._routes import werkzeug_route


def note_exception(record: RequestRecord, exc: BaseException) -> None:
    record.exception = exc
    if record.first_byte is None:
        # No body byte and no write() reached the server, so (PEP 3333) it has sent no
        # headers yet and answers 500 itself, whatever status the app had started.
        record.status = 500


class RequestEnd:
    """Ends one request exactly once, whichever way it ends: body exhausted then closed, closed
    early, an exception, a file wrapper closed, or a response dropped unclosed."""

    __slots__ = (
        "_cpu_started",
        "_environ",
        "_monitor",
        "_name_route",
        "_start_response",
        "_thread_ident",
        "_write",
        "record",
    )

    def __init__(
        self,
        monitor: Monitor,
        record: RequestRecord,
        environ: Environ,
        cpu_started: float | None,
        start_response: StartResponse,
        name_route: Callable[[RequestRecord], None] | None = None,
    ) -> None:
        """``start_response``: the server's, which :meth:`start_response` (given to the app in
        its place) calls; ``name_route``: the framework's (Flask names the route then)."""
        self._monitor = monitor
        self._start_response = start_response
        self._name_route = name_route
        self.record = record
        self._environ = environ
        # thread_time() at the call, for a request whose CPU time is sampled; else None.
        self._cpu_started = cpu_started
        self._thread_ident = get_ident() if cpu_started is not None else 0

    # The app's start_response and write: bound methods of this object rather than closures
    # made for every request (a function and a cell per variable each).
    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Write:
        write = self._start_response(status, headers, exc_info)
        record = self.record
        try:
            record.status = int(status[:3])
            if self._name_route is not None and record.route is None:
                self._name_route(record)
        except (TypeError, ValueError):
            record.status = 0
        except Exception as exc:  # noqa: BLE001
            self._monitor.report_internal_error("wsgi.route", exc)
        # The write of the latest call (a server gives the same one every time).
        self._write = write
        return self._counted_write

    def _counted_write(self, data: bytes) -> object:
        record = self.record
        if record.first_byte is None:
            record.first_byte = perf_counter()
        result = self._write(data)
        record.response_bytes += len(data)
        return result

    def completed(self) -> None:
        """The last byte is with the server: the response is whole, and the worker is free as
        far as the client is concerned (the request is recorded at the close)."""
        self.record.response_ended()
        self.stop()

    def stop(self, *, cpu: bool = True) -> None:
        """Stop the request's clocks and take it out of in-flight, whether or not its response
        was whole; once."""
        record = self.record
        if record.end is not None:
            return
        try:
            # The CPU clock is read inside the wall clock's interval at both ends (after the
            # start, before the end), so it covers no work the duration leaves out.
            cpu_stopped = thread_time() if self._cpu_started is not None else 0.0
            record.end = end = perf_counter()
            # Under WSGI the worker is held for the whole request.
            record.blocking = record.longest_step = end - record.start
            if self._cpu_started is None or not cpu or get_ident() != self._thread_ident:
                record.cpu = None
            else:
                # Clamped to the duration by Monitor.finish.
                record.cpu = cpu_stopped - self._cpu_started
            if record.route is None:
                record.route = werkzeug_route(self._environ)
        except Exception as exc:  # noqa: BLE001
            self._monitor.report_internal_error("wsgi.finish", exc)
        self._monitor.leave_in_flight(record)

    def finish(self, *, cpu: bool = True) -> None:
        """Record a request that ended without a complete response (or whose close never came)."""
        if self.record.finished:
            return
        self.stop(cpu=cpu)
        # Never raises, and takes the request out of in-flight whatever failed above.
        self._monitor.finish(self.record)

    def closed(self, exception: BaseException | None) -> None:
        """The server closed a complete response: record it, with the close's duration."""
        self._monitor.finish(self.record, perf_counter(), exception)


def watch_response(result: Iterable[bytes], environ: Environ, end: RequestEnd) -> Iterable[bytes]:
    file_wrapper = environ.get("wsgi.file_wrapper")
    if isinstance(file_wrapper, type) and isinstance(result, file_wrapper):
        hooked = _hook_file_wrapper(result, end)
        if hooked:
            return result
    # Decided once per response: an iterable without len() must not gain one (a server
    # would take len() == 0 or 1 at its word).
    if hasattr(result, "__len__"):
        return SizedClosingIterator(result, end)
    return ClosingIterator(result, end)


def _hook_file_wrapper(result: Any, end: RequestEnd) -> bool:
    """Keep the server's own file wrapper (so it may ``sendfile``) and learn when it closes:
    the server closes it once the file went out, so that is where its response ended."""
    original_close = getattr(result, "close", None)
    record = end.record

    def close() -> None:
        try:
            if original_close is not None:
                original_close()
        finally:
            end.completed()
            end.finish()

    try:
        result.close = close
    except AttributeError:
        return False
    # The server may send the file itself; count what is left of it from where it stands.
    filelike = getattr(result, "filelike", None)
    with contextlib.suppress(AttributeError, OSError, ValueError, TypeError):
        record.response_bytes += max(os.fstat(filelike.fileno()).st_size - filelike.tell(), 0)  # type: ignore[union-attr]
    return True


# The end of a body, told apart from any chunk an application yields.
_END: Final = object()


class ClosingIterator:
    """Passes the response through chunk by chunk, counting it; the response ends when it is
    exhausted, and the request is recorded at the server's ``close()``."""

    __slots__ = ("_closed", "_end", "_iterable", "_iterator", "_record")

    def __init__(self, iterable: Iterable[bytes], end: RequestEnd) -> None:
        self._closed = False
        self._iterable = iterable
        self._end = end
        self._record = end.record
        # iter() is called when the server iterates, not before, as it would be bare (a
        # PEP 3333 class-based app may call start_response in its __iter__).
        self._iterator: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        if self._iterator is None:
            try:
                self._iterator = iter(self._iterable)
            except BaseException as exc:
                note_exception(self._record, exc)
                raise
            # What a server iterates: a generator, so that the end of the body is no exception
            # raised through this code (compiled, that costs a traceback frame per response),
            # only the generator's own return.
            return self._chunks(self._iterator)
        return self

    def _chunks(self, iterator: Iterator[bytes]) -> Iterator[bytes]:
        """The body chunk by chunk, as :meth:`__next__` passes it on, read with a default at its
        end rather than by catching StopIteration."""
        record = self._record
        while True:
            try:
                chunk: Any = next(iterator, _END)
            except BaseException as exc:
                note_exception(record, exc)
                raise
            if chunk is _END:
                break
            if chunk and record.first_byte is None:
                record.first_byte = perf_counter()
            record.response_bytes += len(chunk)
            yield chunk
        if not record.response_complete:
            self._end.completed()

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
            if not record.response_complete:
                self._end.completed()
            raise
        except BaseException as exc:
            note_exception(record, exc)
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
                self._end.closed(raised)
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
            self._end.finish()

    def __del__(self) -> None:
        # Not closed, and now unreachable: a test client's response dropped without a close,
        # or a server that forgot close(). Record it as close() would have (a response not
        # read to its end is a 499 unless the app raised), so that it is not lost. The app's
        # own close() is not called: bare, nobody would have called it either. (It runs for
        # every response: __del__ with a bare try costs about 0.1-0.2 µs per response, with
        # contextlib.suppress 0.5 µs, a weakref.finalize registered and then detached at
        # close() about 1 µs.)
        try:
            record = self._record
            if not self._closed and not record.finished:
                if not record.response_complete and record.exception is None:
                    record.disconnected = True
                self._end.finish(cpu=False)
        except Exception:  # noqa: BLE001 - a finalizer must never raise (it would only be printed)
            pass


class SizedClosingIterator(ClosingIterator):
    """For a response iterable with ``len()``: waitress and wsgiref send a Content-Length
    (and keep the connection) when ``len(result) == 1``; without it waitress answers chunked
    with ``Connection: close`` and drops a pipelined request, wsgiref sends no length."""

    __slots__ = ()

    def __len__(self) -> int:
        return len(cast("Sized", self._iterable))
