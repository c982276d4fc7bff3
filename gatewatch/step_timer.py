"""Time how long a coroutine holds the event loop, one synchronous step at a time.

An awaitable that drives the application's coroutine itself: every ``send`` or
``throw`` into the coroutine runs it until its next suspension, so the time spent
inside each call is time the request held the loop. This needs no event-loop
hooks, so it works the same under asyncio, uvloop and trio. Child tasks that the
application spawns run outside these steps and are not counted here.

``send`` and ``throw`` spell their timing out inline, in both classes: this runs for every
step of every request, and a shared helper would cost a call per step.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Generator
from time import perf_counter, thread_time
from typing import Any

from gatewatch.record import RequestRecord


class StepTimer(Generator[Any, Any, Any]):
    """``await StepTimer(app(scope, receive, send), record)`` adds loop-held time to ``record``
    and returns what the awaitable returns."""

    __slots__ = ("_coro", "_record")
    # What record.cpu starts as: None means "not measured", so no zeros are exported.
    _initial_cpu: float | None = None

    def __init__(self, awaitable: Awaitable[Any], record: RequestRecord, *, fresh: bool = True) -> None:
        # Apps are coroutine functions nearly always; any other awaitable is driven
        # through the iterator its __await__ returns.
        self._coro: Coroutine[Any, Any, Any] | Generator[Any, Any, Any] = (
            awaitable if isinstance(awaitable, Coroutine) else awaitable.__await__()
        )
        self._record = record
        # fresh=False adds to a record another timer is already filling (an inner layer
        # timing a task the outer one cannot see), keeping the CPU time counted so far.
        if fresh:
            record.cpu = self._initial_cpu

    def __await__(self) -> Generator[Any, Any, Any]:
        return self

    def __iter__(self) -> Generator[Any, Any, Any]:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        started = perf_counter()
        try:
            return self._coro.send(value)
        finally:
            step = perf_counter() - started
            record = self._record
            record.blocking += step
            if step > record.longest_step:
                record.longest_step = step

    def throw(self, *args: Any) -> Any:
        started = perf_counter()
        try:
            return self._coro.throw(*args)
        finally:
            step = perf_counter() - started
            record = self._record
            record.blocking += step
            if step > record.longest_step:
                record.longest_step = step

    def close(self) -> None:
        self._coro.close()


class CpuStepTimer(StepTimer):
    """A :class:`StepTimer` that also adds the loop thread's CPU time of each step to ``record.cpu``.

    ``thread_time()`` is a system call (about 0.2 µs), so this is a separate class that
    the middleware picks once, at construction, when CPU time is wanted.
    """

    __slots__ = ()
    _initial_cpu: float | None = 0.0

    def send(self, value: Any) -> Any:
        started = perf_counter()
        cpu_started = thread_time()
        try:
            return self._coro.send(value)
        finally:
            cpu = thread_time() - cpu_started
            step = perf_counter() - started
            record = self._record
            record.blocking += step
            record.cpu += cpu  # type: ignore[operator]
            if step > record.longest_step:
                record.longest_step = step

    def throw(self, *args: Any) -> Any:
        started = perf_counter()
        cpu_started = thread_time()
        try:
            return self._coro.throw(*args)
        finally:
            cpu = thread_time() - cpu_started
            step = perf_counter() - started
            record = self._record
            record.blocking += step
            record.cpu += cpu  # type: ignore[operator]
            if step > record.longest_step:
                record.longest_step = step
