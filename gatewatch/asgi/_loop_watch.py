"""Event-loop lag and loop blocks: a probe per asyncio loop, one watchdog thread per process.

- **Lag**: every ``interval`` the probe asks the loop to call it back (``call_later``,
  not a task, so a closed loop simply drops it) and measures how late the call came.
- **Blocks**: the watchdog thread pings every probed loop (``call_soon_threadsafe``)
  every ``threshold / 4``. A ping unanswered for longer than ``threshold / 2`` means the
  loop's thread is stuck in synchronous code: the watchdog reads that thread's stack
  *while it blocks* (:mod:`gatewatch.asgi._stack_capture`). Reading it at half the threshold,
  polling at a quarter, means every block longer than the threshold has its stack read
  inside it (the ping goes out at most a quarter after the block starts, the stack is read
  at most half plus a quarter after that). A loop that is not running (between two
  ``run_until_complete`` calls) is not blocked: its outstanding ping is dropped.
  When the blocking step belonged to a request, the request's step timer claims the
  stack as it returns (:func:`claim_stack`); a block no request claims (start-up code,
  a background task, another library's callback) is reported as ``<background>`` when
  the loop answers, if it was longer than the threshold.

Everything here needs asyncio (or uvloop); under trio the middleware skips it.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from time import perf_counter
from typing import Protocol

from gatewatch.asgi._stack_capture import thread_stack

BACKGROUND = "<background>"
# The watchdog never polls faster than this, whatever the threshold.
MIN_CHECK_INTERVAL = 0.005


class LoopListener(Protocol):
    """Who hears about a loop: the monitor of each middleware serving on it."""

    def loop_lag(self, seconds: float) -> None: ...

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None: ...


class _Capture:
    """The loop thread's stack, read by the watchdog between ``read_from`` and ``read_to``
    (perf_counter) while ``ping`` went unanswered."""

    __slots__ = ("ping", "read_from", "read_to", "stack")

    def __init__(self, ping: float, read_from: float, read_to: float, stack: list[str] | None) -> None:
        self.ping = ping
        self.read_from = read_from
        self.read_to = read_to
        self.stack = stack


class LoopProbe:
    """Watches one event loop; its callbacks run on the loop, :meth:`check` on the watchdog."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        interval: float | None,
        threshold: float | None,
    ) -> None:
        self._loop = weakref.ref(loop)
        self.thread_id = threading.get_ident()
        self.interval = interval
        self.threshold = threshold
        self.listeners: weakref.WeakSet[LoopListener] = weakref.WeakSet()
        self._expected = 0.0
        # Watchdog state: the outstanding ping (perf_counter when sent), the stack read
        # while it went unanswered, and the ping whose block a request already claimed.
        self.ping_sent: float | None = None
        self.capture: _Capture | None = None
        self.claimed_ping: float | None = None

    def start(self) -> None:
        loop = self._loop()
        if loop is not None and self.interval is not None:
            self._expected = loop.time() + self.interval
            loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        loop = self._loop()
        if loop is None or self.interval is None:
            return
        now = loop.time()
        lag = max(now - self._expected, 0.0)
        self._expected = now + self.interval
        loop.call_later(self.interval, self._tick)
        for listener in list(self.listeners):
            listener.loop_lag(lag)

    # -- the watchdog's side ------------------------------------------------------------

    def check(self, now: float) -> bool:
        """One watchdog pass; False when the loop is gone and the probe can be dropped."""
        loop = self._loop()
        if loop is None or loop.is_closed() or self.threshold is None:
            return False
        if not loop.is_running():
            # Stopped, not blocked: whatever runs on its thread now is not the loop's doing.
            self.ping_sent = None
            self.capture = None
            return True
        sent = self.ping_sent
        if sent is None:
            self.ping_sent = now
            try:
                loop.call_soon_threadsafe(self._pong)
            except RuntimeError:  # closed between the check and the call
                return False
        elif now - sent > self.threshold / 2 and (self.capture is None or self.capture.ping != sent):
            # Both ends of the read are kept: a busy machine may leave this thread unscheduled
            # between its clock reading and the stack read, and a stack read after the step
            # ended (the next step's, or the idle loop's) must not be given to it.
            read_from = perf_counter()
            stack = thread_stack(self.thread_id)
            self.capture = _Capture(sent, read_from, perf_counter(), stack)
        return True

    def _pong(self) -> None:
        sent = self.ping_sent
        self.ping_sent = None
        capture = self.capture
        if sent is None or capture is None or capture.ping != sent:
            return
        self.capture = None
        waited = perf_counter() - sent
        if self.claimed_ping == sent or self.threshold is None or waited <= self.threshold:
            return
        for listener in list(self.listeners):
            listener.loop_block(BACKGROUND, waited, capture.stack)

    def claim(self, started: float, ended: float) -> list[str] | None:
        """The stack read wholly during a step of ``started``..``ended`` on this loop, taken
        off the table so the block is not also reported as background."""
        sent = self.ping_sent
        if sent is not None:
            self.claimed_ping = sent
        capture = self.capture
        if capture is not None and started <= capture.read_from and capture.read_to <= ended:
            self.capture = None
            return capture.stack
        return None


class _Watchdog:
    """One daemon thread for the process, polling every probed loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._probes: list[LoopProbe] = []
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def add(self, probe: LoopProbe) -> None:
        with self._lock:
            self._probes.append(probe)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="gatewatch-loop-watchdog", daemon=True)
                self._thread.start()

    def probes(self) -> list[LoopProbe]:
        with self._lock:
            return list(self._probes)

    def _run(self) -> None:
        while True:
            with self._lock:
                probes = list(self._probes)
                if not probes:
                    # Nothing left to watch: the thread ends; the next probe starts another.
                    self._thread = None
                    return
            thresholds = [p.threshold for p in probes if p.threshold is not None]
            pause = max(min(thresholds) / 4, MIN_CHECK_INTERVAL) if thresholds else 0.5
            time.sleep(pause)
            now = perf_counter()
            gone = [probe for probe in probes if not probe.check(now)]
            if gone:
                with self._lock:
                    self._probes = [p for p in self._probes if p not in gone]


_watchdog = _Watchdog()
_probes_lock = threading.Lock()
_probes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopProbe] = weakref.WeakKeyDictionary()
# Loop thread -> its probe, for the step timer's claim (threads running a loop are few).
_by_thread: dict[int, LoopProbe] = {}


def watch(
    loop: asyncio.AbstractEventLoop,
    listener: LoopListener,
    *,
    interval: float | None,
    threshold: float | None,
) -> LoopProbe | None:
    """Start watching ``loop`` (from its own thread), once per loop; ``listener`` hears about it."""
    if interval is None and threshold is None:
        return None
    with _probes_lock:
        probe = _probes.get(loop)
        if probe is None:
            probe = LoopProbe(loop, interval=interval, threshold=threshold)
            _probes[loop] = probe
            _by_thread[probe.thread_id] = probe
            probe.start()
            if threshold is not None:
                _watchdog.add(probe)
        probe.listeners.add(listener)
        return probe


def claim_stack(started: float, ended: float) -> list[str] | None:
    """Called on a loop's thread right after a step that blocked: the stack the watchdog
    read meanwhile, if it did."""
    probe = _by_thread.get(threading.get_ident())
    if probe is None:
        return None
    return probe.claim(started, ended)


def probe_for(loop: asyncio.AbstractEventLoop) -> LoopProbe | None:
    with _probes_lock:
        return _probes.get(loop)


def watchdog_probes() -> list[LoopProbe]:
    return _watchdog.probes()
