"""``GatewatchMiddleware``: first in ``settings.MIDDLEWARE``, sync and async capable.

Behind :class:`~gatewatch.GatewatchASGI` / :class:`~gatewatch.GatewatchWSGI` (wrapping
``asgi.py`` / ``wsgi.py``) it only annotates the request record they already keep:
route template, view and its kind, thread hand-offs. Alone it records each request
itself, from the moment Django calls it until the response is closed.

Either way it answers gatewatch's pages (``/metrics``, the live view) where the project's
URLconf routes nothing (:mod:`._pages`), so the MIDDLEWARE line alone gives a scrape page.
"""

from __future__ import annotations

import sys
import threading
from asyncio.events import _get_running_loop
from collections.abc import Awaitable, Callable
from time import perf_counter, thread_time
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase

from gatewatch._lifecycle import Lifecycle, app_cancelled, app_raised
from gatewatch._multiprocess_dir import check_single_process, multiprocess_enabled
from gatewatch._paths import EXCLUDED, SpecialPaths
from gatewatch._printable import gatewatch_logger
from gatewatch.asgi import _offload as thread_offload
from gatewatch.asgi._step_timer import timer_class
from gatewatch.integrations.django import checks, exceptions
from gatewatch.integrations.django._pages import PageView, find_pages, shadowed_message
from gatewatch.integrations.django.options import configured_options
from gatewatch.integrations.django.project_monitor import project_monitor
from gatewatch.integrations.django.view_names import name_view
from gatewatch.monitor import Monitor
from gatewatch.record import ASGI, WSGI, RequestRecord, current_record
from gatewatch.runtime import Runtime, current

GetResponse = Callable[[HttpRequest], Any]
logger = gatewatch_logger()


class GatewatchMiddleware(Lifecycle):
    sync_capable = True
    # Async under ASGI, so adding it never costs a thread hand-off.
    async_capable = True

    def __init__(self, get_response: GetResponse, *, runtime: Runtime | None = None) -> None:
        """``runtime``: the :class:`~gatewatch.runtime.Runtime` giving the monitor (by default
        this process's; Django passes ``get_response`` only)."""
        options = configured_options()
        # This process's runtime: the monitor is found there at the first request.
        self._runtime = current() if runtime is None else runtime
        # manage.py check then knows gatewatch's checks in this process even without the app.
        checks.register_checks()
        checks.run_at_startup(self._runtime)
        if not multiprocess_enabled():
            # Under gunicorn -w 2 without a shared directory each worker would count and
            # scrape alone: refuse to boot the worker, saying how to fix it, as the outer
            # middleware does (recording alone would otherwise fail on every request).
            check_single_process()
        # Also connected by the app's ready(), for projects that skip INSTALLED_APPS.
        exceptions.connect()
        if options.track_offload:
            thread_offload.install()
        self.get_response = get_response
        self._options = options
        self._async = iscoroutinefunction(get_response)
        # What the middleware calls when it records alone: with OTEL on, through an entry point
        # that starts the request's span and makes it current (behind an outer middleware, that
        # one does it); off, get_response itself.
        self._get_response_alone = get_response
        if options.otel:
            from gatewatch.export.otel.entry import traced_get_response

            self._get_response_alone = traced_get_response(
                get_response, lambda: self._runtime.otel_sink_of(self._monitor), is_async=self._async
            )
        if self._async:
            markcoroutinefunction(self)
        threshold = options.block_threshold
        # Behind an outer middleware, CPU time is measured if the outer one measures it; alone,
        # as the lifecycle samples it.
        self._init_lifecycle(options)
        self._timer_cpu = timer_class(cpu_time=True, block_threshold=threshold)
        self._timer_no_cpu = timer_class(cpu_time=False, block_threshold=threshold)
        self._offload_start = 0.0 if options.track_offload else None
        self._monitor: Monitor | None = None
        self._first_use_lock = threading.Lock()
        # gatewatch's pages this middleware answers, and the paths never recorded
        # (EXCLUDE_PATHS, the pages wherever they are served). Found on the first request
        # (reading the URLconf loads it, which is not ready at start-up).
        self._paths: SpecialPaths[PageView] | None = None
        # Django calls process_view once it has resolved the URL, before the view: the route
        # is named then, so the live view shows it while the request is in flight. The hook
        # matches the handler's mode (an async hook under WSGI, or a sync one under ASGI,
        # would cost a thread hand-off per request).
        self.process_view = self._process_view_async if self._async else self._process_view_sync

    def _process_view_sync(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> None:
        record = current_record.get()
        if record is not None:
            name_view(record, request)

    async def _process_view_async(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> None:
        self._process_view_sync(request, view, args, kwargs)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self.__acall__(request)
        special = self._special(request.path_info)
        if callable(special):
            return special(request)
        record = current_record.get()
        if record is None:
            if special is EXCLUDED:
                return self.get_response(request)
            return self._serve_alone(request)
        if record.offload is None:
            record.offload = self._offload_start
        try:
            return self.get_response(request)
        finally:
            name_view(record, request)

    async def __acall__(self, request: HttpRequest) -> Any:
        special = self._special(request.path_info)
        if callable(special):
            # The pages are sync on purpose: a scrape is built in a thread, off the loop, and
            # not in the thread Django keeps for the project's sync views.
            return await sync_to_async(special, thread_sensitive=False)(request)
        record = current_record.get()
        if record is None:
            if special is EXCLUDED:
                return await self.get_response(request)
            return await self._serve_alone_async(request)
        if record.offload is None:
            record.offload = self._offload_start
        # Django's ASGI handler serves each request in a task of its own, which the outer
        # middleware's timer cannot see into: time the loop-held steps here, on the same
        # record (the outer coroutine is suspended meanwhile, so nothing counts twice).
        timer = self._timer_no_cpu if record.cpu is None else self._timer_cpu
        try:
            return await timer(self.get_response(request), record, fresh=False)
        finally:
            name_view(record, request)

    # -- without an outer gatewatch middleware ------------------------------------------

    def _special(self, path: str) -> PageView | object | None:
        """The page this middleware answers at ``path`` (the only callable answer),
        :data:`EXCLUDED`, or None."""
        paths = self._paths
        if paths is None:
            with self._first_use_lock:
                if self._paths is None:
                    self._paths = self._find_paths()
                paths = self._paths
        return paths.find(path) if paths.active else None

    def _find_paths(self) -> SpecialPaths[PageView]:
        exclude = self._options.exclude_paths
        try:
            pages = find_pages(self._options)
        except Exception as exc:  # a URLconf that fails to load fails the request anyway
            logger.error("gatewatch could not read the URLconf; it answers no page of its own", exc_info=exc)
            return SpecialPaths({}, exclude)
        for shadowed in pages.shadowed:
            logger.warning("gatewatch.W003: %s", shadowed_message(*shadowed))
        return SpecialPaths(pages.served, (*exclude, *pages.routed))

    def _serve_alone(self, request: HttpRequest) -> Any:
        interface = ASGI if isinstance(request, ASGIRequest) else WSGI
        started = self._start(request, interface)
        if started is None:
            return self.get_response(request)
        monitor, record = started
        token = current_record.set(record)
        cpu_started = None if record.cpu is None else thread_time()
        try:
            response = self._get_response_alone(request)
        except BaseException as exc:
            record.exception = exc
            _note_cpu(record, cpu_started)
            _finish(monitor, record, holds_worker=interface == WSGI)
            raise
        finally:
            current_record.reset(token)
        # CPU up to the response; a streamed body is produced later, outside the middleware.
        _note_cpu(record, cpu_started)
        _note_response(record, request, response)
        _finish_when_closed(monitor, record, request, response, holds_worker=interface == WSGI)
        return response

    async def _serve_alone_async(self, request: HttpRequest) -> Any:
        started = self._start(request, ASGI)
        if started is None:
            return await self.get_response(request)
        monitor, record = started
        loop = _get_running_loop()
        if loop is not self._watched_loop:
            # Alone under ASGI, the loop's lag and blocks are this middleware's to watch.
            self._watch_loop(monitor, loop)
        token = current_record.set(record)
        try:
            awaitable: Awaitable[Any] = self._get_response_alone(request)
            timer = self._timer_no_cpu if record.cpu is None else self._timer_cpu
            response = await timer(awaitable, record)
        except Exception as exc:
            app_raised(record, exc)
            _finish(monitor, record, holds_worker=False)
            raise
        except BaseException:
            # Django cancels the request when the client goes away.
            app_cancelled(record)
            _finish(monitor, record, holds_worker=False)
            raise
        finally:
            current_record.reset(token)
        _note_response(record, request, response)
        _finish_when_closed(monitor, record, request, response, holds_worker=False)
        return response

    def _start(self, request: HttpRequest, interface: str) -> tuple[Monitor, RequestRecord] | None:
        """The monitor and a new record; None (and the request served unrecorded) if gatewatch
        itself fails here: its errors never reach the request."""
        monitor = self._monitor
        if monitor is None:
            try:
                monitor = self._find_monitor(interface)
            except Exception as exc:
                logger.error("gatewatch could not start recording (the request is unaffected)", exc_info=exc)
                return None
        record = self._begin(monitor, interface, request.method or "", request.path_info)
        if record is None:
            return None
        record.offload = self._offload_start
        return monitor, record

    def _find_monitor(self, interface: str) -> Monitor:
        # Found on first use, not at start-up: behind an outer middleware it is never
        # needed, and that middleware may have been built with other options.
        with self._first_use_lock:
            if self._monitor is None:
                self._monitor = project_monitor(self._options, interface, self._runtime)
                self._draw_first_gap()
            return self._monitor


def _note_response(record: RequestRecord, request: HttpRequest, response: HttpResponseBase) -> None:
    name_view(record, request)
    record.status = response.status_code
    if not response.streaming:
        # Handed to the server in one piece right after this.
        record.response_bytes = len(response.content)  # type: ignore[attr-defined]
        record.first_byte = perf_counter()


def _finish_when_closed(
    monitor: Monitor,
    record: RequestRecord,
    request: HttpRequest,
    response: HttpResponseBase,
    *,
    holds_worker: bool,
) -> None:
    """End the request when the server closes the response it sends (after the last byte),
    the way Django's own handlers release the request.

    That is usually ``response``. A middleware listed before this one may replace it
    (CommonMiddleware's APPEND_SLASH redirect for a 404), and the replaced one is never
    closed; Django adds ``request.close`` to the closers of whichever response goes out, so
    that one ends the request then, with the status of the response really sent.
    """
    closers = getattr(response, "_resource_closers", None)
    if not isinstance(closers, list):
        _finish(monitor, record, holds_worker=holds_worker)
        return
    closers.append(lambda: _finish(monitor, record, holds_worker=holds_worker))
    request_close = request.close

    def close() -> None:
        try:
            if not record.finished:
                # Called by HttpResponseBase.close() of the response that went out instead.
                sent = sys._getframe(1).f_locals.get("self")
                if isinstance(sent, HttpResponseBase):
                    record.status = sent.status_code
                    record.response_bytes = 0 if sent.streaming else len(sent.content)  # type: ignore[attr-defined]
                _finish(monitor, record, holds_worker=holds_worker)
        except Exception as exc:  # noqa: BLE001
            monitor.report_internal_error("django.close", exc)
        finally:
            request_close()

    # An instance attribute: Django reads request.close after the middleware chain returns.
    setattr(request, "close", close)  # noqa: B010


def _finish(monitor: Monitor, record: RequestRecord, *, holds_worker: bool) -> None:
    if record.finished:
        return
    try:
        record.end = end = perf_counter()
        if holds_worker:
            record.blocking = record.longest_step = end - record.start
        monitor.finish(record)
    except Exception as exc:  # noqa: BLE001 - recording must never fail the response
        monitor.report_internal_error("django.finish", exc)


def _note_cpu(record: RequestRecord, cpu_started: float | None) -> None:
    """The CPU time since ``cpu_started`` (None: not sampled), read before the wall clock stops
    (at the close); Monitor.finish clamps it to the duration."""
    record.cpu = None if cpu_started is None else thread_time() - cpu_started
