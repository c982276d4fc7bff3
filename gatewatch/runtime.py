"""What gatewatch runs in one process: its monitors, their sinks, and the threads, files and
hooks they use, owned by one :class:`Runtime`.

Every middleware and integration of a process asks :func:`current` for the process's runtime
(or is handed one: ``runtime=``), and the runtime gives each the monitor it records into: one
per Prometheus registry, or the one writing prometheus-client's multiprocess files, each with
its sinks (the Prometheus export, the OpenTelemetry export when ``otel`` is on, the live view).
Nothing starts before it is needed: the snapshot writer's thread starts with the first request,
the local directory with the first live view. :meth:`Runtime.close` removes the files and
directories and lets the thread end; the process's runtime is closed at exit. In a child forked
from the process (gunicorn's workers, ``--preload``), the runtime forgets what was the parent's:
its threads, its files, its live views' contents and its worker capacity; the monitors stay, as
the middlewares built before the fork hold them.

A test builds its own runtime (``GatewatchASGI(app, runtime=Runtime())``) and closes it.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.registry import REGISTRY, CollectorRegistry

from gatewatch._histogram import DEFAULT_CHOICE, HistogramChoice
from gatewatch._multiprocess_dir import WorkersDirectory, check_single_process, multiprocess_enabled
from gatewatch._printable import gatewatch_logger
from gatewatch.export.live.snapshot_files import SnapshotWriter, snapshot_dir
from gatewatch.export.live.state import LiveState, new_live_state
from gatewatch.export.prometheus import collector, multiprocess
from gatewatch.export.prometheus.exposition import metrics_wsgi_app
from gatewatch.export.side_server import DirectoryView, SideServer, side_app
from gatewatch.integrations._serving_server import calling_server
from gatewatch.monitor import Monitor
from gatewatch.options import Options
from gatewatch.types import WSGIApp
from gatewatch.wsgi._workers import WorkerCapacity

if TYPE_CHECKING:
    from gatewatch.export.otel.sink import OtelSink

__all__ = ["Runtime", "Setup", "current"]


@dataclass(frozen=True)
class Setup:
    """What a middleware records into and serves ``/metrics`` from."""

    monitor: Monitor
    registry: CollectorRegistry
    # The OpenTelemetry export, when options.otel is on.
    otel: OtelSink | None = None


class Runtime:
    """One process's gatewatch: its monitors and their sinks, its snapshot writer (thread,
    files, directories), its WSGI worker capacity and, in gunicorn's arbiter, the workers'
    shared directory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # One monitor per registry: building a middleware many times (test suites, app
        # factories, several wrapped apps in one process) reuses it instead of registering
        # the same metric names twice. Weak: a registry dropped takes its monitor along.
        self._aggregators: weakref.WeakKeyDictionary[CollectorRegistry, collector.PrometheusAggregator] = (
            weakref.WeakKeyDictionary()
        )
        self._multiprocess: tuple[Monitor, multiprocess.MultiprocessSink] | None = None
        self._otel: weakref.WeakKeyDictionary[Monitor, OtelSink] = weakref.WeakKeyDictionary()
        self._live: weakref.WeakKeyDictionary[Monitor, LiveState] = weakref.WeakKeyDictionary()
        self.snapshots = SnapshotWriter()
        self.worker_capacity = WorkerCapacity()
        # Under gunicorn with gatewatch's hooks, in the arbiter: the workers' shared directory.
        self.workers_directory = WorkersDirectory()
        # The side server of this process (gatewatch.export.side_server), once started.
        self._side: SideServer | None = None
        # What was done once in this process (first_time).
        self._done: set[str] = set()
        atexit.register(self.close)

    # -- monitors -----------------------------------------------------------------------------

    def connect(self, options: Options, *, monitor: Monitor | None = None) -> Setup:
        """What a middleware with ``options`` records into (``monitor`` when given)."""
        if monitor is not None and not isinstance(monitor, Monitor):
            raise TypeError(f"monitor must be a gatewatch Monitor, got {type(monitor).__name__}")
        registry = REGISTRY if options.registry is None else options.registry
        if monitor is None:
            # The server is noted by the middleware at its first request, from the server itself.
            monitor = self.monitor(options)
        otel = self.otel_sink(monitor, options) if options.otel else None
        setup = Setup(monitor=monitor, registry=registry, otel=otel)
        if options.side_address is not None:
            self.serve_side(options, setup)
        return setup

    def monitor(self, options: Options, *, interface: str | None = None) -> Monitor:
        """The monitor exporting to ``options.registry`` (the global one when None), or to
        prometheus-client's multiprocess files when that mode is on; every middleware and
        integration of the process that names the same registry records into it. With an
        ``interface`` (called from a request), the server serving it is noted for ``gatewatch_info``."""
        choice = options.histogram_choice()
        if multiprocess_enabled():
            monitor, _sink = self.process_monitor(max_routes=options.max_routes, histograms=choice)
        else:
            # Under gunicorn -w N each worker would export its own share as the server's numbers.
            check_single_process()
            registry = REGISTRY if options.registry is None else options.registry
            monitor = self.registry_monitor(registry, max_routes=options.max_routes, histograms=choice)
        if interface is not None:
            # The multiprocess sink hears of it through the monitor (its info gauge is in the files).
            monitor.note_server(interface, calling_server())
        if options.otel:
            self.otel_sink(monitor, options)
        return monitor

    def registry_monitor(
        self,
        registry: CollectorRegistry,
        *,
        max_routes: int = Options.max_routes,
        histograms: HistogramChoice = DEFAULT_CHOICE,
    ) -> Monitor:
        """The monitor exporting into ``registry``, created and registered on first use;
        ``max_routes`` and ``histograms`` are fixed by the first call (ValueError on a conflict)."""
        collector.check_choice(histograms)
        with self._lock:
            aggregator = self._aggregators.get(registry)
            if aggregator is None:
                aggregator = collector.registry_aggregator(
                    registry, max_routes=max_routes, histograms=histograms
                )
                self._aggregators[registry] = aggregator
            else:
                collector.check_same(aggregator, max_routes, histograms)
            return aggregator.monitor

    def process_monitor(
        self, *, max_routes: int = Options.max_routes, histograms: HistogramChoice = DEFAULT_CHOICE
    ) -> tuple[Monitor, multiprocess.MultiprocessSink]:
        """The one monitor of this worker process writing prometheus-client's multiprocess files,
        with its sink; ``max_routes`` and ``histograms`` are fixed by the first call: every
        worker of a server must use the same, or their files would not merge."""
        collector.check_choice(histograms)
        with self._lock:
            if self._multiprocess is None:
                self._multiprocess = multiprocess.new_process_monitor(
                    max_routes=max_routes, histograms=histograms
                )
            else:
                multiprocess.check_same(*self._multiprocess, max_routes, histograms)
            return self._multiprocess

    # -- sinks --------------------------------------------------------------------------------

    def otel_sink(self, monitor: Monitor, options: Options) -> OtelSink:
        """``monitor``'s OpenTelemetry sink, added on first use, its spans' trace ids carried as
        exemplars by the single-process Prometheus duration histogram when one shares the monitor."""
        from gatewatch.export import otel

        with self._lock:
            sink = self._otel.get(monitor)
            if sink is None:
                sink = self._otel[monitor] = otel.new_sink(monitor, options)
            else:
                otel.check_same(sink, options)
            if sink.exemplars is None and not multiprocess_enabled():
                for aggregator in self._aggregators.values():
                    if aggregator.monitor is monitor:
                        sink.exemplars = aggregator.note_exemplar
            return sink

    def otel_sink_of(self, monitor: Monitor | None) -> OtelSink | None:
        """``monitor``'s OpenTelemetry sink, if it has one."""
        return None if monitor is None else self._otel.get(monitor)

    def live_state(self, monitor: Monitor) -> LiveState:
        """The live view of ``monitor``, created and attached as its sink on first use
        (:func:`gatewatch.export.live.state.new_live_state` says where it writes)."""
        with self._lock:
            state = self._live.get(monitor)
            if state is None:
                choice = self._histograms_of(monitor)
                state = self._live[monitor] = new_live_state(monitor, self.snapshots, choice)
            return state

    def _histograms_of(self, monitor: Monitor) -> HistogramChoice:
        # Under the lock: the buckets of the /metrics families the monitor feeds, which its live
        # view's totals count into too.
        if self._multiprocess is not None and self._multiprocess[0] is monitor:
            return self._multiprocess[1].histograms
        for aggregator in self._aggregators.values():
            if aggregator.monitor is monitor:
                return aggregator.histograms
        return DEFAULT_CHOICE

    # -- the side server (gatewatch.export.side_server) --------------------------------------

    def serve_side(self, options: Options, setup: Setup) -> None:
        """Serve ``setup``'s metrics and live view at ``options.side_address`` from a thread of
        this process, unless a master runs its workers: under gunicorn its hooks serve them
        from the arbiter (:func:`serve_workers_side`); workers of another master would each
        take the same port. The first middleware of the process decides."""
        from gatewatch.integrations._gunicorn_process import gunicorn_process, started_by_a_master

        gunicorn = gunicorn_process()
        if gunicorn is None and started_by_a_master(gunicorn) and self.first_time("side_address"):
            gatewatch_logger().warning(
                "gatewatch: side_address=%s is not served by a worker another server started "
                "(uvicorn --workers or --reload, hypercorn, granian): each would take the port; "
                "read the workers' snapshot files instead (gatewatch top)",
                options.side_address,
            )
        if gunicorn is not None or started_by_a_master(gunicorn) or self._side is not None:
            return
        live = self.live_state(setup.monitor) if options.live_path is not None else None
        self._start_side(
            options,
            side_app(
                metrics=metrics_wsgi_app(setup.registry),
                live=live,
                token=options.live_token,
                metrics_path=options.metrics_path,
                live_path=options.live_path,
            ),
        )

    def serve_workers_side(self, options: Options) -> SideServer | None:
        """In gunicorn's arbiter: serve every worker's metrics (the multiprocess files) and live
        view (their snapshot files) at ``options.side_address``; None when it is not set or the
        address cannot be listened on (said in one line)."""
        if options.side_address is None:
            return None
        directory = snapshot_dir()
        live = DirectoryView(directory) if directory is not None and options.live_path is not None else None
        return self._start_side(
            options,
            side_app(
                metrics=metrics_wsgi_app(),
                live=live,
                token=options.live_token,
                metrics_path=options.metrics_path,
                live_path=options.live_path,
            ),
        )

    def _start_side(self, options: Options, app: WSGIApp) -> SideServer | None:
        assert options.side_address is not None
        server = SideServer(options.side_address, app)
        try:
            server.start()
        except OSError as exc:
            # The app runs on without it: an observability port must not take the server down.
            gatewatch_logger().error(
                "gatewatch: side_address=%s (GATEWATCH_SIDE_ADDRESS): cannot listen there (%s); "
                "/metrics and the live view are served by the app only",
                options.side_address,
                exc.strerror or exc,
            )
            return None
        with self._lock:
            self._side = server
        return server

    @property
    def side_server(self) -> SideServer | None:
        """The side server this process runs, if any."""
        return self._side

    def first_time(self, what: str) -> bool:
        """True the first time ``what`` is asked for, False after (say something once per process)."""
        with self._lock:
            if what in self._done:
                return False
            self._done.add(what)
            return True

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Remove this process's snapshot files and the directories made for them (and, in
        gunicorn's arbiter, the workers' private directory); the writer thread finds nothing
        left to write and ends. The monitors keep counting."""
        atexit.unregister(self.close)
        side, self._side = self._side, None
        if side is not None:
            side.close()
        self.snapshots.close()
        self.workers_directory.remove()

    def after_fork(self) -> None:
        """In a forked child: what was the parent's goes (its threads, its files, its live
        views' contents, its capacity); a lock held by another thread at the fork is replaced."""
        self._lock = threading.Lock()
        side, self._side = self._side, None
        if side is not None:
            side.after_fork()
        self.snapshots.after_fork()
        self.worker_capacity.after_fork()
        self.workers_directory.after_fork()
        for state in list(self._live.values()):
            state.after_fork()


# The process's runtime, made on first use: the one piece of module-level wiring (its lock
# only guards the making).
_default: Runtime | None = None
_default_lock = threading.Lock()


def current() -> Runtime:
    """This process's runtime, made on first use; the same one after a fork, reset
    (:meth:`Runtime.after_fork`)."""
    global _default
    runtime = _default
    if runtime is None:
        with _default_lock:
            runtime = _default
            if runtime is None:
                runtime = _default = Runtime()
    return runtime


def _after_fork_in_child() -> None:
    global _default_lock
    _default_lock = threading.Lock()
    if _default is not None:
        _default.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
