"""The life of one request, the same whichever entry point serves it.

``GatewatchASGI``, ``GatewatchWSGI`` and the Django middleware (when it records alone) all
begin a request here (its record, counted in flight, and whether its CPU time is measured),
watch the event loop it runs on (ASGI), note how the application ended (an exception, a
cancellation), and hand the record to :meth:`Monitor.finish
<gatewatch.monitor.Monitor.finish>` (CPU capped to the duration, after-response time, the
sinks, every error contained). Each entry point keeps only what its interface alone has:
ASGI's receive/send exchange and step timer, WSGI's response iterable, its ``close()`` and
worker capacity, Django's hooks and its response closers.

:class:`Lifecycle` is a base class of the three rather than an object they hold: its methods
are theirs, so the per-request path calls them where it ran its own copies, through no extra
attribute or layer. The sampling state is the entry point's own (``_cpu_gap``,
``_cpu_countdown``), one per middleware, drawn again in the process that serves.
"""

from __future__ import annotations

from asyncio import AbstractEventLoop
from collections.abc import Callable
from time import perf_counter
from typing import Any

from gatewatch._compile_hints import mypyc_attr
from gatewatch._cpu_sampling import sample_gaps
from gatewatch._labels import METHOD_LABELS, OTHER_METHOD
from gatewatch.asgi._loop_watch import watch
from gatewatch.catalogue import CPU_SAMPLE_EVERY
from gatewatch.monitor import Monitor
from gatewatch.options import Options
from gatewatch.record import RequestRecord
from gatewatch.runtime import Runtime, Setup, current


# Django's GatewatchMiddleware, an interpreted class, subclasses it in the compiled build too.
@mypyc_attr(allow_interpreted_subclasses=True)
class Lifecycle:
    """What an entry point keeps across its requests to begin each one: whether CPU time is
    measured and which request is next sampled, and the event loop it last watched."""

    _cpu_time: bool
    _cpu_gap: Callable[[], int]
    _cpu_countdown: int
    # The loop the probe was last started for (False: none yet; None: not asyncio).
    _watched_loop: object
    _loop_lag_interval: float | None
    _block_threshold: float | None

    options: Options
    monitor: Monitor
    runtime: Runtime

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Every entry point is called as its interface says (each overrides this). Declared
        here for mypyc: a compiled class with ``__call__`` keeps a call slot ahead of its
        fields, and a base without one would lay those fields out elsewhere (mypy 2.4.1 does
        not reconcile the two: the base's methods would write past them)."""
        raise TypeError(
            f"{type(self).__name__} is no entry point: wrap the app in GatewatchASGI or GatewatchWSGI"
        )

    def _start_up(self, options: Options, *, monitor: Monitor | None, runtime: Runtime | None) -> Setup:
        """At construction: the runtime (this process's unless one is given), what it gives to
        record into, and the sampling state."""
        self.options = options
        self.runtime = runtime = current() if runtime is None else runtime
        setup = runtime.connect(options, monitor=monitor)
        self.monitor = setup.monitor
        self._init_lifecycle(options)
        return setup

    def _init_lifecycle(self, options: Options) -> None:
        # thread_time() is a system call (around each coroutine step under ASGI): CPU time is
        # measured on one request in CPU_SAMPLE_EVERY, each picked at random
        # (gatewatch._cpu_sampling); the CPU histogram's count is the sampled requests.
        self._cpu_time = options.cpu_time
        self._cpu_gap = sample_gaps(CPU_SAMPLE_EVERY)
        self._cpu_countdown = self._cpu_gap()
        self._watched_loop = False
        self._loop_lag_interval = options.loop_lag_interval
        self._block_threshold = options.block_threshold

    def _draw_first_gap(self) -> None:
        """In the process that serves (a middleware may be built before gunicorn's fork, and
        the parent's draw would repeat in every worker)."""
        self._cpu_countdown = self._cpu_gap()

    def _begin(self, monitor: Monitor, interface: str, method: str, path: str) -> RequestRecord | None:
        """A new record, in flight from now, its ``cpu`` None unless this request's CPU time
        is measured; None if gatewatch itself failed (the request is then served unrecorded:
        its errors never reach the application)."""
        try:
            # Built here rather than by Monitor.start (a call more), the label dict read inline,
            # and the CPU decision made before the sinks hear of the request: every request.
            record = RequestRecord(interface, METHOD_LABELS.get(method, OTHER_METHOD), path, perf_counter())
            if not self._cpu_time:
                record.cpu = None
            else:
                self._cpu_countdown -= 1
                if self._cpu_countdown > 0:
                    record.cpu = None
                else:
                    self._cpu_countdown = self._cpu_gap()
            monitor.arrive(record)
        except Exception as exc:  # noqa: BLE001 - never let recording stop the request
            monitor.report_internal_error(f"{interface}.start", exc)
            return None
        return record

    def _watch_loop(self, monitor: Monitor, loop: AbstractEventLoop | None) -> None:
        """The first request on a new event loop: start its lag and block probe, once per loop."""
        self._watched_loop = loop
        if loop is None:  # trio: loop measurements need asyncio
            return
        try:
            watch(loop, monitor, interval=self._loop_lag_interval, threshold=self._block_threshold)
        except Exception as exc:  # noqa: BLE001 - a probe must never stop the request
            monitor.report_internal_error("loop_watch", exc)


def app_raised(record: RequestRecord, exc: BaseException) -> None:
    """The application raised ``exc`` (an ``Exception``): its error, unless the client had
    left (an error raised because of that is the disconnect, not an application bug)."""
    if not record.disconnected:
        record.exception = exc


def app_cancelled(record: RequestRecord) -> None:
    """The application was cancelled (the server gave up on a gone client, or shuts down)."""
    if not record.response_complete:
        record.disconnected = True
