"""What the server-level benchmark reads about CPUs on Linux: the CPU time a process tree used,
how fast a CPU runs right now, and how much other work wanted the CPUs.

All three come from the kernel (``/proc`` and the thread's own CPU clock), so they cost a few
file reads and never disturb the process being measured.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# About 5 ms of pure-Python arithmetic per pass on the VM this was tuned on: long enough for
# the thread's CPU clock to time it to well under 1 %, short enough to run around every wrk run.
_PROBE_LOOPS = 100_000
_PRESSURE = Path("/proc/pressure/cpu")


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (gunicorn: the master and its worker)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue  # the thread ended between listing and reading
        for child in children:
            pids += process_tree(int(child))
    return pids


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of ``pids`` (each a whole process: all its threads, live or ended)."""
    ticks = 0
    for pid in pids:
        # The command name may hold spaces and parentheses: fields count from the last ")".
        # After it come field 3 onwards, so utime (field 14) and stime (15) are items 11 and 12.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / _TICKS_PER_SECOND


def speed_probe(cpu: int | None) -> float:
    """CPU seconds a fixed loop takes on ``cpu`` now (median of three passes; any CPU if None).

    On a shared VM the same work takes up to half as long again from one second to the next,
    as the host's other tenants come and go; this calibrates a measurement taken just around it.
    The thread's own CPU clock leaves out any time it waits to be scheduled.
    """
    allowed = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})  # this thread only, and only for the probe
    try:
        passes = []
        for _ in range(3):
            start = time.thread_time()
            total = 0
            for number in range(_PROBE_LOOPS):
                total += number * number
            passes.append(time.thread_time() - start)
        return statistics.median(passes)
    finally:
        if cpu is not None:
            os.sched_setaffinity(0, allowed)


def pressure_stalled_us() -> int | None:
    """Microseconds, since boot, during which some task waited for a CPU (PSI); None without PSI.

    Over a stretch of wall time this says how busy the machine was with work besides ours: our
    own server and wrk sit on CPUs of their own and rarely wait.
    """
    try:
        first = _PRESSURE.read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(first.rsplit("total=", 1)[1])
