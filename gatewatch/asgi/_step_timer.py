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

import functools
from collections.abc import Awaitable, Coroutine, Generator
from time import perf_counter, thread_time
from types import CoroutineType
from typing import Any, ClassVar, Final, cast

from gatewatch._compile_hints import mypyc_attr
from gatewatch.asgi._loop_watch import claim_stack
from gatewatch.record import RequestRecord

# At most this many blocking steps are noted per record (a request that blocks more often
# than that is reported with its first ten).
MAX_BLOCKS_LISTED = 10


# timer_class() subclasses both timers at run time, and mypyc reads class-level values of a
# compiled class only as ClassVar (an annotated default there is an instance field).
@mypyc_attr(allow_interpreted_subclasses=True)
class StepTimer(Generator[Any, Any, Any]):
    """``await StepTimer(app(scope, receive, send), record)`` adds loop-held time to ``record``
    and returns what the awaitable returns."""

    __slots__ = ("_coro", "_record", "_result")
    # What record.cpu starts as: None means "not measured", so no zeros are exported.
    _initial_cpu: ClassVar[float | None] = None
    # A step longer than this is a loop block (see timer_class); never, by default.
    _block_threshold: ClassVar[float] = float("inf")

    def __init__(self, awaitable: Awaitable[Any], record: RequestRecord, *, fresh: bool = True) -> None:
        # Apps are coroutine functions nearly always; any other awaitable is driven
        # through the iterator its __await__ returns.
        # (The exact type first: an ABC's isinstance() costs a look-up in its cache.)
        self._coro: Coroutine[Any, Any, Any] | Generator[Any, Any, Any] = (
            awaitable
            if type(awaitable) is CoroutineType or isinstance(awaitable, Coroutine)
            else awaitable.__await__()
        )
        self._record = record
        self._result: Any = None
        # fresh=False adds to a record another timer is already filling (an inner layer
        # timing a task the outer one cannot see), keeping the CPU time counted so far.
        if fresh:
            record.cpu = self._initial_cpu

    def __await__(self) -> Generator[Any, Any, Any]:
        # A coroutine (nearly every app) is stepped by a generator: its end is then no
        # StopIteration raised through this code (compiled, a traceback frame per request).
        if type(self._coro) is CoroutineType:
            return self._steps()
        return self

    def _steps(self) -> Generator[Any, Any, Any]:
        """What :meth:`__next__`, :meth:`send` and :meth:`throw` do, as one generator: the
        coroutine is driven through :func:`_outcome`, read with a default at its end."""
        # Its iterator: a coroutine itself when compiled, a wrapper that has next() in Python.
        steps: Any = _outcome(cast("Coroutine[Any, Any, Any]", self._coro), self).__await__()
        sent: Any = None
        thrown: BaseException | None = None
        cpu = self._initial_cpu is not None
        while True:
            started = perf_counter()
            cpu_started = thread_time() if cpu else 0.0
            try:
                if thrown is not None:
                    yielded = steps.throw(thrown)
                elif sent is None:
                    yielded = next(steps, _END)
                else:
                    yielded = steps.send(sent)
            except StopIteration:
                yielded = _END
            finally:
                if cpu:
                    self._account_cpu(started, cpu_started)
                else:
                    self._account(started)
            if yielded is _END:
                return self._result
            sent = thrown = None
            try:
                sent = yield yielded
            except GeneratorExit:
                steps.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - thrown into the coroutine at its next step
                thrown = exc

    def __iter__(self) -> Generator[Any, Any, Any]:
        return self

    def __next__(self) -> Any:
        # What an event loop calls at every step (it sends None): send(None) spelt out, as a
        # call to it would cost a frame per step.
        started = perf_counter()
        try:
            return self._coro.send(None)
        finally:
            step = perf_counter() - started
            record = self._record
            record.blocking += step
            if step > record.longest_step:
                record.longest_step = step
            if step > self._block_threshold:
                _note_block(record, started, step)

    # asyncio resumes a task with next() (above); a value sent in (trio's scheduler) or an
    # exception thrown in share the accounting through a call, one frame more per step.
    def send(self, value: Any) -> Any:
        started = perf_counter()
        try:
            return self._coro.send(value)
        finally:
            self._account(started)

    def throw(self, *args: Any) -> Any:
        started = perf_counter()
        try:
            return self._coro.throw(*args)
        finally:
            self._account(started)

    def _account(self, started: float) -> None:
        step = perf_counter() - started
        record = self._record
        record.blocking += step
        if step > record.longest_step:
            record.longest_step = step
        if step > self._block_threshold:
            _note_block(record, started, step)

    def _account_cpu(self, started: float, cpu_started: float) -> None:
        record = self._record
        # The CPU clock is read inside the step's wall interval. Once the response has ended
        # (gatewatch.asgi._exchange read the clock then), the request's CPU time stops there, as
        # its duration does: the steps after it add none. The total is clamped to the duration
        # once, when the request ends (Monitor.finish).
        cpu_stopped = record.cpu_end
        if cpu_stopped is None:
            cpu_stopped = thread_time()
        step = perf_counter() - started
        record.blocking += step
        if cpu_stopped > cpu_started:
            record.cpu += cpu_stopped - cpu_started  # type: ignore[operator]
        if step > record.longest_step:
            record.longest_step = step
        if step > self._block_threshold:
            _note_block(record, started, step)

    def close(self) -> None:
        self._coro.close()


@mypyc_attr(allow_interpreted_subclasses=True)
class CpuStepTimer(StepTimer):
    """A :class:`StepTimer` that also adds the loop thread's CPU time of each step to ``record.cpu``.

    ``thread_time()`` is a system call (about 0.2 µs), so this is a separate class that
    the middleware picks once, at construction, when CPU time is wanted.
    """

    __slots__ = ()
    _initial_cpu: ClassVar[float | None] = 0.0

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        started = perf_counter()
        cpu_started = thread_time()
        try:
            return self._coro.send(value)
        finally:
            self._account_cpu(started, cpu_started)

    def throw(self, *args: Any) -> Any:
        started = perf_counter()
        cpu_started = thread_time()
        try:
            return self._coro.throw(*args)
        finally:
            self._account_cpu(started, cpu_started)


# The end of the coroutine, told apart from whatever it yields.
_END: Final = object()


async def _outcome(coroutine: Coroutine[Any, Any, Any], timer: StepTimer) -> None:
    """Await ``coroutine`` and keep what it returns on ``timer``: awaited, a coroutine's end is
    a return value, not an exception."""
    timer._result = await coroutine


def _note_block(record: RequestRecord, started: float, step: float) -> None:
    """A step held the loop past the threshold: keep it, with the stack the loop watchdog
    read while it blocked (if it did), for the monitor to report when the request ends."""
    stack = claim_stack(started, started + step)
    blocks = record.loop_blocks
    if blocks is None:
        record.loop_blocks = [(step, stack)]
    elif len(blocks) < MAX_BLOCKS_LISTED:
        blocks.append((step, stack))


@functools.cache
def timer_class(*, cpu_time: bool, block_threshold: float | None) -> type[StepTimer]:
    """The timer a middleware uses, chosen once at construction: with or without CPU time,
    noting steps longer than ``block_threshold`` seconds as loop blocks (None: never)."""
    base = CpuStepTimer if cpu_time else StepTimer
    if block_threshold is None:
        return base
    name = f"{base.__name__}Blocks"
    attributes = {"__slots__": (), "_block_threshold": float(block_threshold)}
    subclass: type[StepTimer] = type(name, (base,), attributes)
    return subclass
