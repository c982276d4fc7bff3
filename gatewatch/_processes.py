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
from dataclasses import dataclass
from typing import Literal

WriterState = Literal["running", "gone", "replaced"]

# A file whose writer runs can still look older than it by a second where file times are
# coarse (ext3, some network filesystems): only a file older by more is an earlier process's.
PREDATES_MARGIN = 1.0


def _boot() -> float:
    """When the machine booted (Unix time), to the hundredth of a second or better: /proc/stat's
    btime is whole seconds, too coarse to tell a file written just before a server's start
    from one written just after. Computed each time: the wall clock may be set after boot (NTP
    in a fresh container); a process's start in /proc counts on the same boot clock."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    if clock is not None:
        return time.time() - time.clock_gettime(clock)
    with open("/proc/uptime", "rb") as file:
        return time.time() - float(file.read().split()[0])


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


@dataclass(frozen=True)
class Process:
    """What ``/proc`` (or ``kill(pid, 0)`` without it) says of a pid, read once."""

    running: bool
    # When it started (Unix time); None when it is not running or there is no /proc.
    started: float | None

    def wrote(self, written: float) -> WriterState:
        """What became of the process that last wrote a file at ``written`` (its mtime) with
        this pid: ``"running"``; ``"gone"`` (it died); ``"replaced"`` (it died, and a later
        process runs with its id: that process started after the write)."""
        if not self.running:
            return "gone"
        if self.started is not None and written < self.started - PREDATES_MARGIN:
            return "replaced"
        return "running"


def process(pid: int) -> Process:
    """``pid`` as it is now: running (not gone, and not a zombie: dead, not yet reaped, it
    still answers ``kill(pid, 0)``, and a server may take seconds to reap it), and since when."""
    if pid <= 0:
        # kill(0) and kill(-n) address process groups, which "exist": no worker is one.
        return Process(running=False, started=None)
    try:
        found = _stat(pid)
    except FileNotFoundError:
        return Process(running=False, started=None)
    except OSError:
        return Process(running=_signalable(pid), started=None)
    if found is None:
        return Process(running=_signalable(pid), started=None)
    running = found[0] not in (b"Z", b"X")
    return Process(running=running, started=found[1] if running else None)


def process_running(pid: int) -> bool:
    """Whether ``pid`` is a running process (:func:`process`)."""
    return process(pid).running


def writer_state(pid: int, written: float) -> WriterState:
    """What became of the process ``pid`` that last wrote a file at ``written`` (:meth:`Process.wrote`)."""
    return process(pid).wrote(written)
