"""Thread hand-offs through asgiref: how often, how long, how long queued.

Under ASGI, Django runs every sync view, every sync-only middleware and every sync
signal receiver through ``asgiref.sync.sync_to_async``: the coroutine waits while a
thread runs the code. Async code called from sync code goes the other way, through
``async_to_sync`` (an async view under WSGI, or below a sync-only middleware under
ASGI). asgiref offers no hook for either, so :func:`install` wraps
``SyncToAsync.__call__`` (and ``thread_handler``, to see when the thread really
started) and ``AsyncToSync.__call__`` once per process. The wrappers only add numbers
to the request record in ``current_record``; outside a request they call straight through.

Per request this records (see :class:`~gatewatch.record.RequestRecord`):

- ``thread_hops``: every ``sync_to_async`` and ``async_to_sync`` crossing, nested ones included;
- ``offload``: wall time the request waited on those threads (nested calls counted
  once, inside their outer call);
- ``offload_queue``: time the work waited for a free thread before it started
  (thread-sensitive code shares one thread per request, or one for the process).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync

from gatewatch.record import current_record

# When the hand-off was submitted; copied into the thread with the rest of the context.
_submitted: ContextVar[float | None] = ContextVar("gatewatch_offload_submitted", default=None)

_install_lock = threading.Lock()
_original_call: Callable[..., Any] | None = None
_original_thread_handler: Callable[..., Any] | None = None
_original_async_to_sync: Callable[..., Any] | None = None


def installed() -> bool:
    return _original_call is not None


def install() -> None:
    """Start tracking ``sync_to_async`` hand-offs in this process; idempotent."""
    global _original_call, _original_thread_handler, _original_async_to_sync
    with _install_lock:
        if _original_call is not None:
            return
        original_call = SyncToAsync.__call__
        original_handler: Callable[..., Any] = SyncToAsync.thread_handler

        async def tracked_call(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
            record = current_record.get()
            if record is None:
                return await original_call(self, *args, **kwargs)
            record.thread_hops += 1
            outermost = record.offload_depth == 0
            if outermost:
                record.offload_started = perf_counter()
            record.offload_depth += 1
            token = _submitted.set(perf_counter())
            try:
                return await original_call(self, *args, **kwargs)
            finally:
                _submitted.reset(token)
                record.offload_depth -= 1
                if outermost:
                    waited = perf_counter() - record.offload_started
                    record.offload = (record.offload or 0.0) + waited

        def tracked_thread_handler(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
            # The last positional argument is the bound call to run (asgiref 3.8 to 3.13);
            # it runs inside the request's copied context, where the submit time is.
            if args and callable(args[-1]):
                args = (*args[:-1], _QueueTimed(args[-1]))
            return original_handler(self, *args, **kwargs)

        original_async_to_sync: Callable[..., Any] = AsyncToSync.__call__

        def tracked_async_to_sync(self: AsyncToSync[Any, Any], *args: Any, **kwargs: Any) -> Any:
            record = current_record.get()
            if record is not None:
                record.thread_hops += 1
            return original_async_to_sync(self, *args, **kwargs)

        SyncToAsync.__call__ = tracked_call  # type: ignore[method-assign]
        SyncToAsync.thread_handler = tracked_thread_handler  # type: ignore[method-assign]
        AsyncToSync.__call__ = tracked_async_to_sync  # type: ignore[method-assign]
        _original_call = original_call
        _original_thread_handler = original_handler
        _original_async_to_sync = original_async_to_sync


def uninstall() -> None:
    """Put asgiref back as it was (tests, or an application that wants it off)."""
    global _original_call, _original_thread_handler, _original_async_to_sync
    with _install_lock:
        if _original_call is None or _original_thread_handler is None or _original_async_to_sync is None:
            return
        SyncToAsync.__call__ = _original_call  # type: ignore[method-assign]
        SyncToAsync.thread_handler = _original_thread_handler  # type: ignore[method-assign]
        AsyncToSync.__call__ = _original_async_to_sync  # type: ignore[method-assign]
        _original_call = _original_thread_handler = _original_async_to_sync = None


class _QueueTimed:
    """Runs the handed-off call, first noting how long it waited for its thread."""

    __slots__ = ("_call",)

    def __init__(self, call: Callable[[], Any]) -> None:
        self._call = call

    def __call__(self) -> Any:
        submitted = _submitted.get()
        if submitted is not None:
            record = current_record.get()
            if record is not None:
                record.offload_queue += perf_counter() - submitted
        return self._call()
