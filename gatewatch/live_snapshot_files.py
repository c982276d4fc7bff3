"""The live view across worker processes: each worker writes its snapshot into a shared
directory, and whichever worker answers the live endpoint merges the files.

A worker's file is ``<dir>/gatewatch-live-<pid>.json``, rewritten atomically (a temporary
file, then ``os.replace``) every :data:`WRITE_INTERVAL` by one daemon thread per process.
Readers skip files not rewritten for :data:`STALE_AFTER` seconds and files whose process is
gone, so a killed worker drops out of the view by itself.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import json
import os
import tempfile
import threading
import time
import weakref
from typing import Any, Protocol

from gatewatch.prometheus_multiprocess import ENV_VAR as PROMETHEUS_DIR_VAR
from gatewatch.prometheus_multiprocess import multiprocess_enabled

# The shape of the snapshots and of the served JSON; bumped when a consumer would misread it.
SCHEMA = 1
ENV_VAR = "GATEWATCH_LIVE_DIR"
WRITE_INTERVAL = 0.5
STALE_AFTER = 5.0
FILE_PREFIX = "gatewatch-live-"


def snapshot_dir() -> str | None:
    """Where this process's snapshots go: ``GATEWATCH_LIVE_DIR``, else prometheus-client's
    multiprocess directory when that mode is on (the workers already share it), else None."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return configured
    if multiprocess_enabled():
        return os.environ.get(PROMETHEUS_DIR_VAR) or os.environ.get(PROMETHEUS_DIR_VAR.lower())
    return None


class SnapshotSource(Protocol):
    def snapshot(self) -> dict[str, Any]: ...

    def report_write_error(self, exc: Exception) -> None: ...


def write_atomically(path: str, snapshot: dict[str, Any]) -> None:
    """Replace ``path`` with ``snapshot`` as JSON; a reader sees the old file or the new one,
    never half of one. The temporary name starts with a dot so readers' glob skips it."""
    data = json.dumps(snapshot, separators=(",", ":")).encode()
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
    directory: str, *, current: dict[str, Any] | None = None, stale_after: float = STALE_AFTER
) -> dict[str, Any]:
    """Every live worker's snapshot found in ``directory``, ordered by pid.

    ``current`` is the answering process's own snapshot, fresher than its file, which is
    then not read.
    """
    now = time.time()
    processes = [] if current is None else [current]
    own_pid = None if current is None else current.get("pid")
    for path in glob.glob(os.path.join(glob.escape(directory), FILE_PREFIX + "*.json")):
        try:
            if now - os.stat(path).st_mtime > stale_after:
                continue
            with open(path, "rb") as file:
                snapshot = json.loads(file.read())
        except (OSError, ValueError):
            # Removed or replaced between the listing and the read: that worker is gone.
            continue
        pid = snapshot.get("pid") if isinstance(snapshot, dict) else None
        if isinstance(pid, int) and pid != own_pid and _process_exists(pid):
            processes.append(snapshot)
    processes.sort(key=lambda snapshot: snapshot["pid"])
    return {"schema": SCHEMA, "time": now, "processes": processes}


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        # EPERM: it exists, under another user.
        return True
    return True


class _Writer:
    """This process's writer: the sources it writes and the thread writing them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.targets: list[tuple[weakref.ref[SnapshotSource], str]] = []
        self.thread: threading.Thread | None = None
        self.files_written = 0


_writer = _Writer()


def start_writing(source: SnapshotSource, directory: str) -> str:
    """Write ``source``'s snapshot into ``directory`` from now on, every :data:`WRITE_INTERVAL`,
    until ``source`` is garbage collected; returns the file's path."""
    writer = _writer
    with writer.lock:
        pid = os.getpid()
        # Several monitors in one process (rare: separate registries) each get a file.
        index = writer.files_written
        writer.files_written += 1
        name = f"{FILE_PREFIX}{pid}.json" if index == 0 else f"{FILE_PREFIX}{pid}-{index}.json"
        path = os.path.join(directory, name)
        writer.targets.append((weakref.ref(source), path))
        if writer.thread is None:
            writer.thread = threading.Thread(
                target=_write_forever, args=(writer,), name="gatewatch-live-writer", daemon=True
            )
            writer.thread.start()
    return path


def _write_forever(writer: _Writer) -> None:
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
            writer.targets = alive
            if not alive:
                writer.thread = None
                return
            for ref, path in alive:
                source = ref()
                if source is None:
                    continue
                try:
                    write_atomically(path, source.snapshot())
                except Exception as exc:  # noqa: BLE001 - the writer must outlive a bad write
                    source.report_write_error(exc)
                del source


def _remove_own_files() -> None:
    with _writer.lock:
        for _, path in _writer.targets:
            with contextlib.suppress(OSError):
                os.unlink(path)
        # The thread finds nothing left to write and stops.
        _writer.targets = []


def _forget_parent_writer() -> None:
    # A forked child has no writer thread and must not write or remove its parent's files;
    # the parent's lock may have been held by another thread at the fork.
    global _writer
    _writer = _Writer()


atexit.register(_remove_own_files)
os.register_at_fork(after_in_child=_forget_parent_writer)
