"""The live view of one process, bounded in memory and JSON-ready: the HTTP requests in flight,
the last ones finished, per-second totals, event-loop lag and blocks, and WebSocket sessions.

:class:`LiveState` is a monitor sink, one per :class:`~gatewatch.monitor.Monitor` of a
:class:`~gatewatch.runtime.Runtime` (:meth:`~gatewatch.runtime.Runtime.live_state`);
:mod:`gatewatch.export.live.endpoint` serves :meth:`LiveState.view`.
Nothing here keeps a raw path, a query string, a header or a cookie: requests are
described by method, route template and numbers.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter, time
from typing import cast

from gatewatch._batches import PENDING_RECORDS, take_all
from gatewatch._histogram import DEFAULT_CHOICE, HistogramChoice
from gatewatch.asgi._stack_capture import ReadStack, site_of
from gatewatch.export.live._fragments import ChunkedParts, EncodedRing, encode
from gatewatch.export.live._seconds import Second, second_chunks
from gatewatch.export.live._totals import MAX_OUTER_LINES, MAX_STACK_LINES, ProcessTotals
from gatewatch.export.live.describe import describe_finished, describe_in_flight, monitor_part
from gatewatch.export.live.local_dir import own_server_dir, workers_local_dir
from gatewatch.export.live.schema import (
    SCHEMA,
    LagSample,
    LiveView,
    LoopBlock,
    ProcessSnapshot,
)
from gatewatch.export.live.snapshot_files import (
    SnapshotWriter,
    check_snapshot_dir,
    merged_json,
    snapshot_dir,
    view_json,
)
from gatewatch.monitor import Monitor, Sink
from gatewatch.record import RequestRecord, WebSocketRecord

MAX_IN_FLIGHT_LISTED = 10_000
RECENT_REQUESTS = 200
WINDOW_SECONDS = 300
LAG_SAMPLES = 600
LOOP_BLOCKS = 100
# A loop block as kept: (wall clock, route, seconds, stack, the frames above it).
Block = tuple[float, str, float, tuple[str, ...], tuple[str, ...]]
# How a snapshot's head ends before its joined parts replace it.
_EMPTY_TAIL = b',"recent":[],"per_second":[],"loop_lag":[],"loop_blocks":[]}'


class LiveState(Sink):
    """This process's live view of one monitor's traffic; every part of it is bounded.

    Requests in flight are listed up to ``max_in_flight`` (the rest are counted); the last
    :data:`RECENT_REQUESTS` finished ones and per-second totals of the last
    :data:`WINDOW_SECONDS` seconds are kept, and totals since the state began, counted as the
    process's ``/metrics`` counts them (``histograms``: its histogram families' buckets). With a
    ``snapshot_dir``, the process's snapshot is also written there for the other workers to
    merge (:mod:`gatewatch.export.live.snapshot_files`), by ``writer`` (by default one of its own).
    """

    def __init__(
        self,
        monitor: Monitor,
        *,
        snapshot_dir: str | None = None,
        max_in_flight: int = MAX_IN_FLIGHT_LISTED,
        local_only: bool = False,
        writer: SnapshotWriter | None = None,
        histograms: HistogramChoice = DEFAULT_CHOICE,
    ) -> None:
        # Weak: the monitor holds this state as a sink, and the runtime's table must not
        # keep a monitor alive through its own state.
        self._monitor = weakref.ref(monitor)
        self.snapshot_dir = snapshot_dir
        # The directory is this process's own (gatewatch.export.live.local_dir): only local readers
        # read it, and no other worker's snapshot is there to merge.
        self.local_only = local_only
        self._max_in_flight = max_in_flight
        self._writer = SnapshotWriter() if writer is None else writer
        self.histograms = histograms
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        # One snapshot built at a time (the writer thread's and a poll's), over the parts kept.
        self._build_lock = threading.Lock()
        self._builder: ThreadPoolExecutor | None = None
        self._recent: EncodedRing[RequestRecord] = EncodedRing(RECENT_REQUESTS)
        # Finished records not yet added into the per-second totals (see request_finished).
        self._pending: deque[RequestRecord] = deque()
        self._seconds: dict[str, list[Second | None]] = {}
        self._lag: EncodedRing[tuple[float, float]] = EncodedRing(LAG_SAMPLES)
        self._blocks: EncodedRing[Block] = EncodedRing(LOOP_BLOCKS)
        # Counts since now (after a fork: since the fork, as the child's own /metrics files).
        self._totals = ProcessTotals(self.histograms)
        self._per_second = ChunkedParts()
        # The writer thread starts with the first request, in the process serving it: an app
        # built before a fork (gunicorn --preload) would otherwise write from the parent only.
        self._writer_pending = self.snapshot_dir is not None
        monitor = self._monitor()
        if self._writer_pending and monitor is not None:
            monitor.on_first_request(self._start_writer)
        # This process's snapshot file, once its writer has started.
        self.snapshot_path: str | None = None

    def request_finished(self, record: RequestRecord) -> None:
        # One append (atomic, no lock) on every request's path: the records are added into the
        # per-second totals in batches, every PENDING_RECORDS of them or when a snapshot is
        # taken, whichever comes first. A finished record no longer changes, and it is
        # described only when a snapshot is taken.
        pending = self._pending
        pending.append(record)
        if len(pending) >= PENDING_RECORDS:
            self._absorb()

    def _absorb(self) -> None:
        """Add the pending records into the recent ring and the per-second totals."""
        # Each record's second on the wall clock, from when its response ended.
        wall_offset = time() - perf_counter()
        oldest = int(wall_offset + perf_counter()) - WINDOW_SECONDS
        seconds = self._seconds
        recent = self._recent
        monitor = self._monitor()
        threads = None if monitor is None else monitor.worker_threads
        with self._lock:
            records = take_all(self._pending)
            self._totals.add_requests(records, threads, self._absorb_error)
            recent.added += len(records)
            for record in records:
                try:
                    recent.items.append(record)
                    start = record.start
                    end = record.end if record.end is not None else start
                    second = int(end + wall_offset)
                    if second <= oldest:
                        continue
                    ring = seconds.get(record.interface)
                    if ring is None:
                        ring = seconds[record.interface] = [None] * WINDOW_SECONDS
                    slot = ring[second % WINDOW_SECONDS]
                    if slot is None or slot.second != second:
                        if slot is not None and slot.second > second:
                            continue  # that slot holds a later second now
                        slot = ring[second % WINDOW_SECONDS] = Second(second)
                    slot.requests += 1
                    if record.status_label[0] == "5":
                        slot.server_errors += 1
                    if record.disconnected:
                        slot.disconnects += 1
                    if record.exception is not None:
                        slot.exceptions += 1
                    duration = end - start
                    slot.duration_sum += duration
                    if duration > slot.duration_max:
                        slot.duration_max = duration
                    blocking = record.blocking
                    slot.blocking_sum += blocking
                    if blocking > slot.blocking_max:
                        slot.blocking_max = blocking
                    if record.concurrency > slot.concurrency_max:
                        slot.concurrency_max = record.concurrency
                except Exception as exc:  # noqa: BLE001 - one bad record must not stop a snapshot
                    self._absorb_error(exc)

    def _absorb_error(self, exc: Exception) -> None:
        self._report_error("live.absorb", exc)

    def loop_lag(self, seconds: float) -> None:
        self.add_lag_sample(seconds)

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None:
        if isinstance(stack, ReadStack):
            self.add_loop_block(route, duration, stack, outer_stack=stack.outer, site=stack.site)
        else:
            self.add_loop_block(route, duration, stack or [])

    def session_finished(self, record: WebSocketRecord) -> None:
        with self._lock:
            self._totals.sessions.add(record)

    def add_lag_sample(self, seconds: float, at: float | None = None) -> None:
        """One measurement of how late the event loop ran a callback (``at``: wall-clock time)."""
        sample = (time() if at is None else at, float(seconds))
        with self._lock:
            self._lag.append(sample)
            self._totals.add_lag(sample[1])

    def add_loop_block(
        self,
        route: str,
        duration: float,
        stack: list[str],
        *,
        outer_stack: list[str] | None = None,
        site: str | None = None,
        at: float | None = None,
    ) -> None:
        """A stretch during which one request held the event loop, with the stack seen in it
        (its innermost :data:`MAX_STACK_LINES` lines kept) and the frames above that part
        (``outer_stack``, its innermost :data:`MAX_OUTER_LINES`), at ``site`` (the application's
        innermost frame; by default the innermost line of ``stack``)."""
        lines = tuple(stack[-MAX_STACK_LINES:])
        outer = tuple(outer_stack[-MAX_OUTER_LINES:]) if outer_stack else ()
        where = site_of(stack) if site is None else site
        block = (time() if at is None else at, route, float(duration), lines, outer)
        with self._lock:
            self._blocks.append(block)
            self._totals.sites.add(route, block[2], block[0], where, lines, outer)

    def session_accepted(self, record: WebSocketRecord) -> None:
        # A worker serving only WebSockets must appear in the merged view too.
        if self._writer_pending:
            self._start_writer()

    def report_write_error(self, exc: Exception) -> None:
        self._report_error("live.write", exc)

    def _report_error(self, where: str, exc: Exception) -> None:
        monitor = self._monitor()
        if monitor is not None:
            monitor.report_internal_error(where, exc)

    def _start_writer(self) -> None:
        with self._lock:
            if not self._writer_pending:
                return
            self._writer_pending = False
        if self.snapshot_dir is not None:
            self.snapshot_path = self._writer.start(self, self.snapshot_dir, when_read=self.local_only)
            if not self.local_only:
                self._write_locally_too(self.snapshot_dir)

    def _write_locally_too(self, shared: str) -> None:
        # A PROMETHEUS_MULTIPROC_DIR set by hand (uvicorn --workers, granian, hypercorn) is
        # where the HTTP view merges the workers, but `gatewatch top` with no URL looks only in
        # the local root: the workers would be invisible to it.
        try:
            directory = workers_local_dir(shared)
            if directory is not None:
                self._writer.adopt_directory(directory)
                self._writer.start(self, directory, when_read=True)
        except (OSError, ValueError) as exc:
            self._report_error("live.local_dir", exc)

    def snapshot(self) -> ProcessSnapshot:
        """This process's live view as plain values (:mod:`gatewatch.export.live.schema`)."""
        return cast(ProcessSnapshot, json.loads(self.snapshot_json()))

    def snapshot_json(self) -> bytes:
        """This process's live view as JSON: what its snapshot file holds."""
        return self._snapshot_json()[1]

    def _snapshot_json(self) -> tuple[float, bytes]:
        # What changed since the last snapshot is encoded; the rest is joined from the parts
        # kept (gatewatch.export.live._fragments): a poll costs about what is new, not the view.
        now = perf_counter()
        wall = time()
        oldest = int(wall) - WINDOW_SECONDS
        monitor = self._monitor()
        in_flight, unlisted = monitor.flying(self._max_in_flight) if monitor is not None else ([], 0)
        self._absorb()
        with self._build_lock:
            with self._lock:
                recent = self._recent.new_items()
                lag = self._lag.new_items()
                blocks = self._blocks.new_items()
                # Read under the lock: the request path adds into the current seconds.
                per_second = self._per_second.array(second_chunks(self._seconds, oldest))
                totals = self._totals.take()
            wall_offset = wall - now
            recent_array = self._recent.array(*recent, lambda record: describe_finished(record, wall_offset))
            lag_array = self._lag.array(*lag, _describe_lag)
            block_array = self._blocks.array(*blocks, _describe_block)
            totals_json = self._totals.encode(totals)
        part = monitor_part(monitor)
        # Typed as the whole snapshot, its joined parts left empty here and put in below.
        head: ProcessSnapshot = {
            "schema": SCHEMA,
            "pid": os.getpid(),
            "time": wall,
            "servers": part["servers"],
            "in_flight_counts": part["in_flight_counts"],
            "websockets": part["websockets"],
            "internal_errors": part["internal_errors"],
            "wsgi_workers": part["wsgi_workers"],
            "in_flight": [describe_in_flight(record.number, record, now, monitor) for record in in_flight],
            "in_flight_unlisted": unlisted,
            "recent": [],
            "per_second": [],
            "loop_lag": [],
            "loop_blocks": [],
        }
        return wall, b"".join(
            (
                _without_tail(encode(head)),
                # Before the joined parts, which end the snapshot.
                b',"totals":',
                totals_json,
                b',"recent":',
                recent_array,
                b',"per_second":',
                per_second,
                b',"loop_lag":',
                lag_array,
                b',"loop_blocks":',
                block_array,
                b"}",
            )
        )

    def view(self) -> LiveView:
        """What the live endpoint serves, as plain values."""
        return cast(LiveView, json.loads(self.view_json()))

    def view_json(self) -> bytes:
        """What the live endpoint serves: every worker's snapshot, this process's fresh."""
        wall, current = self._snapshot_json()
        if self.snapshot_dir is None or self.local_only:
            return view_json(wall, [current])
        return merged_json(self.snapshot_dir, current=current, own_pid=os.getpid())

    def builder(self) -> ThreadPoolExecutor:
        """The thread the ASGI endpoint builds the view on, started on first use."""
        with self._lock:
            if self._builder is None:
                self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gatewatch-live")
            return self._builder

    def after_fork(self) -> None:
        # The parent's requests are not the child's, and its lock may have been held at the fork;
        # its builder thread is not in the child.
        self._reset()


def _without_tail(head: bytes) -> bytes:
    if not head.endswith(_EMPTY_TAIL):  # a field added after the joined parts
        raise RuntimeError("the live snapshot's joined parts must be its last fields")
    return head[: -len(_EMPTY_TAIL)]


def _describe_lag(sample: tuple[float, float]) -> LagSample:
    return {"at": sample[0], "lag": sample[1]}


def _describe_block(block: Block) -> LoopBlock:
    at, route, duration, stack, outer = block
    return {"at": at, "route": route, "duration": duration, "stack": list(stack), "outer_stack": list(outer)}


def new_live_state(
    monitor: Monitor, writer: SnapshotWriter, histograms: HistogramChoice = DEFAULT_CHOICE
) -> LiveState:
    """A live state attached to ``monitor`` as its sink, written by ``writer``: into
    ``GATEWATCH_LIVE_DIR`` (or prometheus-client's multiprocess directory) when set at that
    moment, else into this process's private local directory
    (:mod:`gatewatch.export.live.local_dir`), where ``gatewatch top`` reads it without HTTP."""
    directory = snapshot_dir()
    local_only = directory is None
    if directory is not None:
        check_snapshot_dir(directory)
    else:
        try:
            directory = own_server_dir()
            writer.adopt_directory(directory)
        except (OSError, ValueError) as exc:
            # The local channel is a convenience: the app and the token's HTTP view
            # run without it (a read-only filesystem, a name taken by another user).
            monitor.report_internal_error("live.local_dir", exc)
    state = LiveState(
        monitor, snapshot_dir=directory, local_only=local_only, writer=writer, histograms=histograms
    )
    monitor.add_sink(state)
    return state
