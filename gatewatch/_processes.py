"""Whether the process that wrote a worker's file still runs, without any server hook.

gunicorn tells gatewatch when a worker dies (``child_exit``); uvicorn, hypercorn and granian
restart or lose workers without telling the app. The files the workers leave (prometheus-client's
``*_<pid>.db``, the live view's snapshots) name their writer's pid, so whichever worker reads
them decides: a pid that no longer runs, or runs as a zombie its parent has not reaped yet, is
a dead writer; a running pid that started after the file was last written is a later process
given the same id (pids repeat, quickly in a container), and the file is still the dead one's.
"""

from __future__ import annotations

import os
import time
from typing import Literal

WriterState = Literal["running", "gone", "replaced"]

# A file whose writer runs can still look older than it by a second where file times are
# coarse (ext3, some network filesystems): only a file older by more is an earlier process's.
PREDATES_MARGIN = 1.0


def _boot() -> float:
    """When the machine booted (Unix time), to a hundredth of a second: /proc/stat's btime is
    whole seconds, too coarse to tell a file written just before a server's start from one
    written just after."""
    with open("/proc/uptime", "rb") as file:
        uptime = float(file.read().split()[0])
    # Read each time: the wall clock may be set after boot (NTP in a fresh container).
    return time.time() - uptime


def _stat(pid: int) -> tuple[bytes, float] | None:
    """(state, start time) of ``pid`` from Linux's ``/proc``; None when it is gone or there is
    no ``/proc`` to ask (OSError other than a missing entry: the caller falls back to kill)."""
    with open(f"/proc/{pid}/stat", "rb") as file:
        stat = file.read()
    try:
        # After "pid (comm) ": state is field 3, starttime field 22 (clock ticks after boot);
        # comm may hold spaces and parentheses, so the fields are counted from the last ")".
        fields = stat[stat.rindex(b")") + 2 :].split()
        return fields[0], _boot() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (Unix time, to a few hundredths of a second), from Linux's
    ``/proc``; None elsewhere or when it is gone."""
    try:
        found = _stat(pid)
    except OSError:
        return None
    return None if found is None else found[1]


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        # It exists, under another user.
        return True
    return True


def process_running(pid: int) -> bool:
    """Whether ``pid`` is a running process: not gone, and not a zombie (dead, not yet reaped:
    it still answers ``kill(pid, 0)``, and a server may take seconds to reap it)."""
    if pid <= 0:
        # kill(0) and kill(-n) address process groups, which "exist": no worker is one.
        return False
    try:
        found = _stat(pid)
    except FileNotFoundError:
        return False
    except OSError:
        return _signalable(pid)
    if found is None:
        return _signalable(pid)
    return found[0] not in (b"Z", b"X")


def writer_state(pid: int, written: float) -> WriterState:
    """What became of the process ``pid`` that last wrote a file at ``written`` (its mtime):
    ``"running"``; ``"gone"`` (it died); ``"replaced"`` (it died, and a later process runs
    with its id: that process started after the write)."""
    if not process_running(pid):
        return "gone"
    started = process_started(pid)
    if started is not None and written < started - PREDATES_MARGIN:
        return "replaced"
    return "running"
