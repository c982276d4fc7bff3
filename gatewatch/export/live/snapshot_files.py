"""The live view across worker processes: each worker writes its snapshot into a shared
directory, and whichever worker answers the live endpoint merges the files.

A worker's file is ``<dir>/gatewatch-live-<pid>.json``, rewritten atomically (a temporary
file, then ``os.replace``) every :data:`WRITE_INTERVAL` by one daemon thread per process.
Readers skip files not rewritten for :data:`STALE_AFTER` seconds and files whose writer is
not running (gone, a zombie, or its pid another process's now: :mod:`gatewatch._processes`),
so a killed worker and its requests in flight drop out of the view by itself, under any server.

The directory is trusted only when no one else can write to it (another local user could
otherwise add a forged worker to the view), and a reader opens only regular files of its own
user, without following links and without blocking (a FIFO named like a snapshot would
otherwise freeze the event loop of the worker answering the live view). A file's content
must also be a snapshot of this schema (:func:`~gatewatch.export.live.schema.parse_process_snapshot`):
a worker still running another gatewatch version, or a file that is not one of ours, is left
out rather than served to the dashboard.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import json
import os
import stat
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Protocol

from gatewatch._multiprocess_dir import ENV_VAR as PROMETHEUS_DIR_VAR
from gatewatch._multiprocess_dir import multiprocess_enabled
from gatewatch._processes import writer_state
from gatewatch.export.live._fragments import yield_gil
from gatewatch.export.live.schema import SCHEMA, LiveView, ProcessSnapshot, parse_process_snapshot

ENV_VAR = "GATEWATCH_LIVE_DIR"
WRITE_INTERVAL = 0.5
STALE_AFTER = 5.0
FILE_PREFIX = "gatewatch-live-"
# A file written for local readers only (SnapshotWriter.start's ``when_read``) is rewritten every
# WRITE_INTERVAL while its directory has been read within READ_RECENTLY seconds (readers touch
# READER_MARK there), else only every IDLE_REWRITE seconds and merely touched in between: a busy
# process's snapshot is ~100 kB of JSON, ~2 ms of CPU holding the GIL, spared when no one looks.
READ_RECENTLY = 10.0
IDLE_REWRITE = 4.0
READER_MARK = ".gatewatch-live-read"


def snapshot_dir() -> str | None:
    """Where this process's snapshots go: ``GATEWATCH_LIVE_DIR``, else prometheus-client's
    multiprocess directory when that mode is on (the workers already share it), else None."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return configured
    if multiprocess_enabled():
        return os.environ.get(PROMETHEUS_DIR_VAR) or os.environ.get(PROMETHEUS_DIR_VAR.lower())
    return None


def others_can_write(info: os.stat_result) -> bool:
    """Whether a directory with this stat is not this user's alone to write: another user could
    add or replace snapshots in it (forge the live view)."""
    return info.st_uid != os.getuid() or bool(info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


# A snapshot is a few kilobytes; anything far larger is not one of ours.
MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024


def check_snapshot_dir(directory: str) -> None:
    """Raise ``ValueError`` naming the setting when ``directory`` cannot safely hold the live
    view's snapshots: missing, not a directory, not writable, or writable by other users."""
    setting = ENV_VAR if os.environ.get(ENV_VAR) else PROMETHEUS_DIR_VAR
    try:
        info = os.stat(directory)
    except OSError as exc:
        raise ValueError(
            f"{setting}={directory!r}: the directory for the live view's snapshots does not exist "
            f"({exc.strerror}); create it (mode 0700) before the server starts"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise ValueError(f"{setting}={directory!r} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"{setting}={directory!r} is not writable by this user (uid {os.getuid()})")
    if others_can_write(info):
        raise ValueError(
            f"{setting}={directory!r} can be written by other users (mode "
            f"{stat.S_IMODE(info.st_mode):o}, owner uid {info.st_uid}); they could forge the live "
            "view: use a directory of this user's that only it can write (chmod 0700)"
        )


class SnapshotSource(Protocol):
    def snapshot_json(self) -> bytes: ...

    def report_write_error(self, exc: Exception) -> None: ...


def write_atomically(path: str, snapshot: Mapping[str, object] | bytes) -> None:
    """Replace ``path`` with ``snapshot`` as JSON (or JSON already); a reader sees the old file or
    the new one, never half of one. The temporary name starts with a dot so readers' glob skips it."""
    data = snapshot if isinstance(snapshot, bytes) else json.dumps(snapshot, separators=(",", ":")).encode()
    fd, temporary = tempfile.mkstemp(prefix="." + FILE_PREFIX, suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def merged_snapshot(
    directory: str, *, current: ProcessSnapshot | None = None, stale_after: float = STALE_AFTER
) -> LiveView:
    """Every live worker's snapshot found in ``directory``, ordered by pid.

    ``current`` is the answering process's own snapshot, fresher than its file, which is
    then not read.
    """
    now = time.time()
    processes = [] if current is None else [current]
    own_pid = None if current is None else current["pid"]
    processes.extend(snapshot for _, _, snapshot in _live_files(directory, own_pid, now - stale_after))
    processes.sort(key=lambda snapshot: snapshot["pid"])
    return {"schema": SCHEMA, "time": now, "processes": processes}


def merged_json(
    directory: str,
    *,
    current: bytes | None = None,
    own_pid: int | None = None,
    stale_after: float = STALE_AFTER,
) -> bytes:
    """:func:`merged_snapshot` as JSON, ``current`` being this process's snapshot as JSON (pid
    ``own_pid``; none in gunicorn's arbiter): the other workers' files are checked, then served
    as they were written (not encoded again)."""
    now = time.time()
    found = [(pid, data) for pid, data, _ in _live_files(directory, own_pid, now - stale_after)]
    if current is not None and own_pid is not None:
        found.append((own_pid, current))
    found.sort(key=lambda entry: entry[0])
    return view_json(now, [data for _, data in found])


def view_json(at: float, processes: list[bytes]) -> bytes:
    """A live view of ``processes`` (each a process snapshot as JSON) as of ``at`` (Unix time)."""
    head = b'{"schema":%d,"time":%s,"processes":[' % (SCHEMA, repr(float(at)).encode())
    return head + b",".join(processes) + b"]}"


def _live_files(
    directory: str, own_pid: int | None, fresh_after: float
) -> list[tuple[int, bytes, ProcessSnapshot]]:
    """The snapshot files of ``directory`` written by running processes other than ``own_pid``:
    their pid, their bytes (a JSON object, checked) and their content."""
    found = []
    for index, path in enumerate(glob.glob(os.path.join(glob.escape(directory), FILE_PREFIX + "*.json"))):
        if index:
            yield_gil()  # one file's parse (about 1 ms per 150 kB) at a time
        try:
            read = _read_own_regular_file(path, fresh_after)
            if read is None:
                continue
            data, written = read
            snapshot = parse_process_snapshot(data)
        except (OSError, ValueError):
            # OSError: removed or replaced between the listing and the read (that worker is
            # gone); ValueError: not JSON, or not a snapshot of this schema.
            continue
        pid = snapshot["pid"]
        # A killed worker's requests stay in its last file: it must be the running writer's
        # (not a zombie's, nor one of a later process given the same pid).
        if pid != own_pid and pid > 0 and writer_state(pid, written) == "running":
            found.append((pid, data.strip(), snapshot))
    return found


def mark_read(directory: str) -> None:
    """Tell the writers of ``directory`` that someone reads it now (best effort: a reader that
    cannot write there sees snapshots up to IDLE_REWRITE seconds old)."""
    marker = os.path.join(directory, READER_MARK)
    with contextlib.suppress(OSError):
        try:
            os.utime(marker)
        except FileNotFoundError:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600))


def _read_lately(directory: str, now: float) -> bool:
    try:
        return os.stat(os.path.join(directory, READER_MARK)).st_mtime >= now - READ_RECENTLY
    except OSError:
        return False


def _read_own_regular_file(path: str, fresh_after: float) -> tuple[bytes, float] | None:
    """The file's bytes and mtime if it is a regular file of this user modified after
    ``fresh_after``; never follows a link, never waits on a FIFO or a device."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.getuid()
            or info.st_mtime < fresh_after
            or info.st_size > MAX_SNAPSHOT_BYTES
        ):
            return None
        with os.fdopen(os.dup(fd), "rb") as file:
            return file.read(MAX_SNAPSHOT_BYTES + 1), info.st_mtime
    finally:
        os.close(fd)


class SnapshotWriter:
    """The snapshot files of one process and the thread writing them (one per
    :class:`~gatewatch.runtime.Runtime`), with the private directories made for them.
    :meth:`close` removes them all; a forked child forgets its parent's (:meth:`after_fork`)."""

    def __init__(self) -> None:
        self._forget()

    def _forget(self) -> None:
        self.lock = threading.Lock()
        self.targets: list[tuple[weakref.ref[SnapshotSource], str]] = []
        self.thread: threading.Thread | None = None
        self.files_written = 0
        # path -> when it was last written whole, for the files written only when read.
        self.when_read: dict[str, float] = {}
        # A failing write is reported once per file, until it succeeds again (a directory removed
        # under a running server would otherwise be an error every half second). Per file: since
        # every process writes its local snapshot, one file failing beside others is usual.
        self.failing: set[str] = set()
        # Directories made for this process's files (gatewatch.export.live.local_dir), removed
        # after them.
        self.directories: list[str] = []

    def start(self, source: SnapshotSource, directory: str, *, when_read: bool = False) -> str:
        """Write ``source``'s snapshot into ``directory`` from now on, every :data:`WRITE_INTERVAL`,
        until ``source`` is garbage collected or the writer closed; returns the file's path.
        ``when_read``: no other process merges this file (only local readers read it), so it is
        rewritten at that pace only while they read (:data:`READ_RECENTLY`)."""
        with self.lock:
            pid = os.getpid()
            # Several monitors in one process (rare: separate registries) each get a file; so
            # does a second runtime's writer (a test's own) finding the first name kept fresh
            # by another writer of this process (an earlier process's file is stale: replaced).
            index = self.files_written
            self.files_written += 1
            name = f"{FILE_PREFIX}{pid}.json" if index == 0 else f"{FILE_PREFIX}{pid}-{index}.json"
            path = os.path.join(directory, name)
            if _fresh(path):
                path = os.path.join(directory, f"{FILE_PREFIX}{pid}-{id(self):x}-{index}.json")
            self.targets.append((weakref.ref(source), path))
            if when_read:
                self.when_read[path] = 0.0
            if self.thread is None:
                self.thread = threading.Thread(
                    target=_write_forever, args=(self,), name="gatewatch-live-writer", daemon=True
                )
                self.thread.start()
        # A process that exits cleanly takes its files along (once: unregister first).
        atexit.unregister(self.close)
        atexit.register(self.close)
        return path

    def adopt_directory(self, path: str) -> None:
        """Remove ``path`` (made for this process's files, emptied of them) on :meth:`close`."""
        with self.lock:
            self.directories.append(path)

    def close(self) -> None:
        """Remove this process's files and directories; the thread finds nothing left to write
        and stops."""
        atexit.unregister(self.close)
        with self.lock:
            for _, path in self.targets:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            self.targets = []
            directories, self.directories = self.directories, []
        for path in reversed(directories):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(path, READER_MARK))
            with contextlib.suppress(OSError):
                os.rmdir(path)

    def after_fork(self) -> None:
        # A forked child has no writer thread and must not write or remove its parent's files;
        # the parent's lock may have been held by another thread at the fork.
        self._forget()


def _fresh(path: str) -> bool:
    try:
        return os.stat(path, follow_symlinks=False).st_mtime >= time.time() - STALE_AFTER
    except OSError:
        return False


def _write_forever(writer: SnapshotWriter) -> None:
    while True:
        time.sleep(WRITE_INTERVAL)
        # Writes happen under the lock so that the exit clean-up cannot be followed by one
        # last write bringing a file back.
        with writer.lock:
            alive = [(ref, path) for ref, path in writer.targets if ref() is not None]
            for ref, path in writer.targets:
                if ref() is None:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                    writer.when_read.pop(path, None)
                    writer.failing.discard(path)
            writer.targets = alive
            if not alive:
                writer.thread = None
                return
            for ref, path in alive:
                source = ref()
                if source is None:
                    continue
                try:
                    if _due(writer, path):
                        write_atomically(path, source.snapshot_json())
                    else:
                        os.utime(path)  # alive: readers skip files untouched for STALE_AFTER
                    writer.failing.discard(path)
                except Exception as exc:  # noqa: BLE001 - the writer must outlive a bad write
                    if path not in writer.failing:
                        writer.failing.add(path)
                        source.report_write_error(exc)
                del source


def _due(writer: SnapshotWriter, path: str) -> bool:
    """Whether ``path`` is to be written whole now (always, unless written only when read)."""
    written = writer.when_read.get(path)
    if written is None:
        return True
    now = time.time()
    if now - written < IDLE_REWRITE and not _read_lately(os.path.dirname(path), now):
        return False
    writer.when_read[path] = now
    return True
