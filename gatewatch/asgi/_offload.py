"""Thread hand-offs during a request: how often, how long, how long queued for a thread.

Under ASGI, sync code runs in threads while the request's coroutine waits:

- Django runs every sync view, sync middleware hook and sync signal receiver through
  ``asgiref.sync.sync_to_async``; async code called from sync code goes the other way,
  through ``async_to_sync`` (an async view under WSGI, or below a sync-only middleware);
- Starlette and FastAPI run sync endpoints, sync dependencies and sync background work
  through ``anyio.to_thread.run_sync`` (under asyncio and trio alike).

Neither library offers a hook, so :func:`install` wraps ``SyncToAsync.__call__`` (and
``thread_handler``, which runs in the thread, to see when the work really started),
``AsyncToSync.__call__`` and ``anyio.to_thread.run_sync`` once per process. The wrappers
only add numbers to the request record in ``current_record``; outside a request they
call straight through. Direct ``loop.run_in_executor`` calls are not wrapped (asgiref
itself uses it, and uvloop's cannot be).

Per request this records (see :class:`~gatewatch.record.RequestRecord`):

- ``thread_hops``: every crossing between the loop and a thread, nested ones included;
- ``offload``: wall time the request waited on threads, up to the end of its response:
  the union of its hand-offs (nested and concurrent ones counted once), so it never
  exceeds the duration;
- ``offload_queue``: time the work waited for a free thread before it started
  (asgiref's thread-sensitive code shares one thread; anyio has a 40-thread limiter).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync

from gatewatch.record import RequestRecord, current_record

# When the hand-off was submitted; copied into the thread with the rest of the context.
_submitted: ContextVar[float | None] = ContextVar("gatewatch_offload_submitted", default=None)

_install_lock = threading.Lock()
# The attribute that marks a gatewatch wrapper (functools.wraps copies it onto any wrapper
# another library puts around ours, so ours is still found beneath theirs).
_MARK = "__gatewatch_offload__"


class _Wrapping:
    """One wrapped callable: what it replaced, and a switch that turns the wrapper into a
    plain pass-through when it cannot be taken off (another library wrapped it since)."""

    __slots__ = ("enabled", "original", "wrapper")

    def __init__(self, original: Any) -> None:
        self.original = original
        self.wrapper: Any = None
        self.enabled = True


def _targets() -> list[tuple[Any, str, Callable[[Any, _Wrapping], Any]]]:
    """(owner, attribute, wrapper factory) of every callable tracked."""
    targets: list[tuple[Any, str, Callable[[Any, _Wrapping], Any]]] = [
        (SyncToAsync, "__call__", _tracked_sync_to_async),
        (SyncToAsync, "thread_handler", _tracked_thread_handler),
        (AsyncToSync, "__call__", _tracked_async_to_sync),
    ]
    if "anyio" in sys.modules or _importable("anyio"):
        import anyio.to_thread

        targets.append((anyio.to_thread, "run_sync", _tracked_run_sync))
    return targets


def _wrapping_of(current: Any) -> _Wrapping | None:
    wrapping = getattr(current, _MARK, None)
    # Not isinstance: after a reload of this module, the wrappers in place are of the old class.
    return wrapping if hasattr(wrapping, "enabled") and hasattr(wrapping, "original") else None


def installed() -> bool:
    return all(
        (w := _wrapping_of(getattr(owner, attribute))) is not None and w.enabled
        for owner, attribute, _ in _targets()
    )


def install() -> None:
    """Start tracking hand-offs in this process. Idempotent, also across reloads of this
    module: the wrappers are found on the libraries themselves, never stacked twice."""
    with _install_lock:
        for owner, attribute, make in _targets():
            current = getattr(owner, attribute)
            wrapping = _wrapping_of(current)
            if wrapping is not None:
                wrapping.enabled = True
                continue
            wrapping = _Wrapping(current)
            wrapper = make(current, wrapping)
            setattr(wrapper, _MARK, wrapping)
            wrapping.wrapper = wrapper
            setattr(owner, attribute, wrapper)


def uninstall() -> None:
    """Stop tracking: put back exactly what :func:`install` replaced; where another library
    has wrapped gatewatch's wrapper since, leave theirs in place and make ours a pass-through."""
    with _install_lock:
        for owner, attribute, _ in _targets():
            current = getattr(owner, attribute)
            wrapping = _wrapping_of(current)
            if wrapping is None:
                continue
            if current is wrapping.wrapper:
                setattr(owner, attribute, wrapping.original)
            else:
                wrapping.enabled = False


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


async def _hand_off(record: RequestRecord, call: Callable[[], Awaitable[Any]]) -> Any:
    """Await a hand-off to a thread, counting it and timing it on ``record``."""
    record.thread_hops += 1
    # Time the union of the request's hand-offs: from the first one starting while none is
    # running to the last one ending (nested and concurrent ones, as in asyncio.gather, once).
    if record.offload_depth == 0:
        record.offload_started = perf_counter()
    record.offload_depth += 1
    token = _submitted.set(perf_counter())
    try:
        return await call()
    finally:
        _submitted.reset(token)
        record.offload_depth -= 1
        if record.offload_depth == 0:
            ended = perf_counter()
            # Hand-offs after the response ended (Django's close hop) are after-response work.
            if record.end is not None and record.end < ended:
                ended = record.end
            if ended > record.offload_started:
                record.offload = (record.offload or 0.0) + ended - record.offload_started


def _tracked_sync_to_async(original: Callable[..., Any], wrapping: _Wrapping) -> Callable[..., Any]:
    async def __call__(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        record = current_record.get()
        if record is None or not wrapping.enabled:
            return await original(self, *args, **kwargs)
        return await _hand_off(record, lambda: original(self, *args, **kwargs))

    return __call__


def _tracked_thread_handler(original: Callable[..., Any], wrapping: _Wrapping) -> Callable[..., Any]:
    def thread_handler(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        # The last positional argument is the bound call to run (asgiref 3.8 to 3.13);
        # it runs inside the request's copied context, where the submit time is.
        if wrapping.enabled and args and callable(args[-1]):
            args = (*args[:-1], _QueueTimed(args[-1]))
        return original(self, *args, **kwargs)

    return thread_handler


def _tracked_async_to_sync(original: Callable[..., Any], wrapping: _Wrapping) -> Callable[..., Any]:
    def __call__(self: AsyncToSync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        record = current_record.get()
        if record is not None and wrapping.enabled:
            record.thread_hops += 1
        return original(self, *args, **kwargs)

    return __call__


def _tracked_run_sync(original: Callable[..., Any], wrapping: _Wrapping) -> Callable[..., Any]:
    async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        record = current_record.get()
        if record is None or not wrapping.enabled:
            return await original(func, *args, **kwargs)
        # anyio runs the function in a copy of this context, submit time included.
        return await _hand_off(record, lambda: original(_QueueTimed(func), *args, **kwargs))

    return run_sync


class _QueueTimed:
    """Runs the handed-off call, first noting how long it waited for its thread."""

    __slots__ = ("_call",)

    def __init__(self, call: Callable[..., Any]) -> None:
        self._call = call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        submitted = _submitted.get()
        if submitted is not None:
            record = current_record.get()
            if record is not None:
                record.offload_queue += perf_counter() - submitted
        return self._call(*args, **kwargs)
