"""prometheus-client's multiprocess directory: which one, whether it can hold the files, what
earlier runs left in it, and a private one made by gunicorn's arbiter before its workers fork.

Under gunicorn ``-w N`` each worker has its own memory: a scrape answered by one worker shows
that worker's numbers only, unless every worker writes into files in one directory
(``PROMETHEUS_MULTIPROC_DIR``) that the answering worker merges. The hooks of
:mod:`gatewatch.integrations.gunicorn` make such a directory in the arbiter, and a middleware built in a
gunicorn worker with several siblings and no directory refuses to start
(:func:`check_single_process`) rather than export one worker's share silently.

No prometheus-client import at module level: whether prometheus-client picks its
multiprocess value class is decided by the environment at its import, which this module
exists to set up (:func:`use_multiprocess_values` repairs a too-early import).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import tempfile

from gatewatch._printable import gatewatch_logger
from gatewatch._processes import process_started, writer_state
from gatewatch.integrations._gunicorn_process import gunicorn_process, started_by_a_master

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
# Set beside ENV_VAR when gatewatch's hooks made the directory, so that a process inheriting
# both (a gunicorn master re-executed by USR2) knows the directory is another master's.
PRIVATE_ENV_VAR = "GATEWATCH_PRIVATE_MULTIPROC_DIR"
PRIVATE_PREFIX = "gatewatch-prom-"
HOOKS_FIX = (
    "start gunicorn with -c gunicorn.conf.py containing `from gatewatch.integrations.gunicorn import *`"
)
# What a run leaves in the directory: prometheus-client's files, gatewatch's server-wide label
# admissions (gatewatch.export.prometheus.shared_labels) and live-view snapshots
# (gatewatch.export.live.snapshot_files).
RUN_FILE_PATTERNS = (
    "*.db",
    "gatewatch_labels_*.jsonl",
    "gatewatch-live-*.json",
    ".gatewatch-live-*.tmp",
    # A dead worker's live gauges being retired (gatewatch.export.prometheus._worker_files).
    ".gatewatch-ended-*.tmp",
    # Dead workers' files folded (gatewatch.export.prometheus._fold): the manifest naming the
    # folded files (themselves *.db), and its lock; removed before any worker runs.
    "gatewatch-folded.json",
    ".gatewatch-folded-*.tmp",
    ".gatewatch-fold.lock",
)
# prometheus-client names its files <type>_<pid>.db, gauges <type>_<mode>_<pid>.db.
_DB_FILE = re.compile(r"^[a-z]+(?:_[a-z]+)*_(\d+)\.db$")
_STALE_NAMES_SHOWN = 4

logger = gatewatch_logger()


def multiprocess_enabled() -> bool:
    """Whether prometheus-client's multiprocess mode is on (its directory variable is set)."""
    return bool(os.environ.get(ENV_VAR) or os.environ.get(ENV_VAR.lower()))


def multiprocess_directory() -> str:
    """The directory of multiprocess mode ("" when it is off)."""
    return os.environ.get(ENV_VAR) or os.environ.get(ENV_VAR.lower()) or ""


def configured() -> tuple[str, str] | None:
    """(variable, directory) as prometheus-client reads them: the upper-case spelling first,
    else the deprecated lower-case one; None when neither is set (even to an empty string)."""
    for name in (ENV_VAR, ENV_VAR.lower()):
        if name in os.environ:
            return name, os.environ[name]
    return None


def directory_problem(name: str, path: str, *, hooks: bool = False) -> str | None:
    """One line saying what is wrong with ``path`` as the multiprocess directory and what to
    do, or None when every process of the server can write its files there. ``hooks``: asked
    by gatewatch's gunicorn hooks, which make a directory when the variable is unset."""
    if not path:
        return f"{name} is set but empty; set it to an empty directory the server can write, or unset it"
    where = f"{name}={path}"
    if not os.path.exists(path):
        if hooks:
            return (
                f"{where} does not exist; create it (empty) before gunicorn starts, or unset it "
                "(gatewatch's hooks then make one)"
            )
        return (
            f"{where} does not exist; create it (empty) before the server starts (under gunicorn "
            f"you may instead unset it and {HOOKS_FIX}, which makes one)"
        )
    if not os.path.isdir(path):
        return f"{where} is not a directory; point {name} at an empty directory"
    # The effective ids: a server that switched user (gunicorn --user) writes as that user.
    effective = os.access in os.supports_effective_ids
    if not os.access(path, os.W_OK | os.X_OK, effective_ids=effective):
        return (
            f"{where} is not writable by this process (uid {os.geteuid()}); make it writable by the "
            f"server's user or point {name} at another directory"
        )
    return None


def check_directory() -> str:
    """The multiprocess directory, checked before prometheus-client opens its files there (it
    would fail each worker with a bare FileNotFoundError or PermissionError instead)."""
    found = configured()
    if found is None:
        raise ValueError(f"{ENV_VAR} is not set")
    problem = directory_problem(*found)
    if problem is not None:
        raise ValueError(problem)
    return found[1]


def use_multiprocess_values() -> None:
    """Make prometheus-client's metrics write into the directory from now on.

    prometheus-client picks its value class once, at import, from the environment; anything
    imported before the variable was set (gunicorn's config file imports gatewatch, hence
    prometheus-client, before the arbiter's hooks run) would keep every value in memory, and
    the merged scrape would not see this process at all.
    """
    from prometheus_client import values

    # One multiprocess class per process: a second one would open the same files again.
    if configured() is not None and not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


# -- what earlier runs left behind ------------------------------------------------------------


def file_pid(name: str) -> int | None:
    """The process id in a prometheus-client file name (``counter_123.db`` -> 123)."""
    match = _DB_FILE.match(name)
    if match is None:
        return None
    pid = int(match.group(1))
    # 0 and negative ids name process groups for os.kill: never a process of ours.
    return pid if pid > 0 else None


def stale_files(directory: str) -> list[str]:
    """prometheus-client's files in ``directory`` of processes that are not running (gone, or
    zombies), or that predate the running process with their id (an earlier process's, the id
    reused: pids repeat across restarts of a container); sorted."""
    return sorted(name for name, _, _ in _ended_writers_files(directory))


def _ended_writers_files(directory: str) -> list[tuple[str, int, float]]:
    """(name, pid, mtime) of each prometheus-client file in ``directory`` whose writer ended."""
    ended = []
    for path in glob.glob(os.path.join(glob.escape(directory), "*.db")):
        name = os.path.basename(path)
        pid = file_pid(name)
        if pid is None:
            continue
        try:
            written = os.stat(path).st_mtime
        except OSError:
            continue
        if writer_state(pid, written) != "running":
            ended.append((name, pid, written))
    return ended


def _folded_files(directory: str) -> list[tuple[str, float]]:
    """(name, mtime) of the files dead workers' files were folded into
    (:mod:`gatewatch.export.prometheus._fold`)."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(directory), "*_folded-*.db")):
        with contextlib.suppress(OSError):
            found.append((os.path.basename(path), os.stat(path).st_mtime))
    return found


def _folded_writers(directory: str) -> tuple[tuple[int, float], ...]:
    # Here, not at the top: prometheus-client is set up by now (new_process_monitor).
    from gatewatch.export.prometheus._fold import read_manifest

    try:
        return read_manifest(directory).writers
    except (OSError, ValueError, KeyError, TypeError):
        return ()


def clear_run_files(directory: str) -> list[str]:
    """Remove what an earlier run left in ``directory`` (prometheus-client's ``*.db`` files and
    gatewatch's own), as prometheus-client advises before a server starts; other files stay.
    Returns the names removed, sorted."""
    removed = []
    for pattern in RUN_FILE_PATTERNS:
        for path in glob.glob(os.path.join(glob.escape(directory), pattern)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                removed.append(os.path.basename(path))
    return sorted(removed)


def _pids(pids: list[int]) -> str:
    shown = ", ".join(str(pid) for pid in pids[:_STALE_NAMES_SHOWN])
    return shown + (", ..." if len(pids) > _STALE_NAMES_SHOWN else "")


def warn_stale_files(directory: str) -> list[str]:
    """Say (logger ``gatewatch``; once per process: when its multiprocess monitor is made, which
    gunicorn's workers inherit under ``--preload``) what ``directory`` holds of processes that
    ended, whose counters and histograms every scrape adds to this server's (their live gauges
    are left out: :mod:`gatewatch.export.prometheus._worker_files`): a warning for an earlier run's
    files, which should not be there; a line at INFO for workers of this server that died
    (uvicorn, hypercorn and granian restart workers without a hook gatewatch could use).
    Returns the ended processes' file names, sorted."""
    server = gunicorn_process()
    if server is not None and server.worker_age not in (None, 1):
        # The first worker speaks for the server (its siblings see the same files), and a
        # replacement worker's dead predecessors are this server's own (child_exit dropped
        # their live gauges).
        return []
    ended = _ended_writers_files(directory)
    folded = _folded_files(directory)
    if not ended and not folded:
        return []
    # A process's last write: before this server started, it was an earlier run's.
    last_write: dict[int, float] = {}
    for _, pid, written in ended:
        last_write[pid] = max(written, last_write.get(pid, written))
    # One worker of several its master started: the server started with the master.
    worker = started_by_a_master(server)
    started = process_started(os.getppid() if worker else os.getpid())
    # Writers whose files a scrape folded already (their pids are in the fold's manifest):
    # siblings, or an earlier run's that another worker of this server folded before this
    # one looked (gunicorn's workers start and scrape in any order).
    folded_earlier = False
    if started is not None:
        for pid, written in _folded_writers(directory):
            if written < started:
                folded_earlier = True
                last_write.setdefault(pid, written)
            elif worker:
                last_write.setdefault(pid, written)
    if started is not None and not folded_earlier and any(written < started for _, written in folded):
        # Dead workers' files folded by an earlier run's scrapes: no pid left to name.
        logger.warning(
            "gatewatch: %s=%s holds the folded files of an earlier run's dead workers (%s): their "
            "counters and histograms are added to this server's; empty the directory before the "
            "server starts (gatewatch.integrations.gunicorn's hooks do it)",
            ENV_VAR,
            directory,
            ", ".join(sorted(name for name, _ in folded)),
        )
    earlier, siblings, unknown = [], [], []
    for pid, written in sorted(last_write.items()):
        # No margin: a file written within hundredths of a second of the server's start is
        # not an earlier run's (servers take longer than that to stop and start again).
        if started is not None and written < started:
            earlier.append(pid)
        elif started is not None and worker:
            # Written since the master started: by one of its workers.
            siblings.append(pid)
        else:
            unknown.append(pid)
    if earlier or unknown:
        what = f"processes that are not running (pids {_pids(earlier + unknown)})"
        if not unknown:
            what = (
                f"processes that ended before this server started (an earlier run's: pids {_pids(earlier)})"
            )
        logger.warning(
            "gatewatch: %s=%s holds %d files of %d %s: their counters and histograms are added to "
            "this server's (their live gauges are left out); empty the directory before the server "
            "starts (gatewatch.integrations.gunicorn's hooks do it)",
            ENV_VAR,
            directory,
            sum(1 for _, pid, _ in ended if pid not in siblings) + (len(folded) if folded_earlier else 0),
            len(earlier) + len(unknown),
            what,
        )
    if siblings:
        # A warning, not information: a worker that died holding requests is worth seeing in a
        # server's default log (Python shows WARNING and above without any logging set up).
        logger.warning(
            "gatewatch: workers of this server ended without a hook telling gatewatch (pids %s): "
            "their counters and histograms stay in the totals, their live gauges (requests in "
            "flight, busy workers, open WebSockets) are left out",
            _pids(siblings),
        )
    return sorted(name for name, _, _ in ended)


def check_single_process() -> None:
    """Refuse to export one worker's numbers as the server's: called when a middleware is
    built without a multiprocess directory. ValueError naming the variable and the fix."""
    found = configured()
    if found is not None and not found[1]:
        # prometheus-client counts a set-but-empty variable as multiprocess mode and would
        # write its files into the working directory.
        raise ValueError(directory_problem(*found))
    server = gunicorn_process()
    if server is not None and server.workers > 1:
        raise ValueError(
            f"gunicorn runs {server.workers} workers but {ENV_VAR} is not set, so each scrape "
            f"would show one worker's numbers; {HOOKS_FIX} (the workers then share a "
            f"{ENV_VAR}), or set {ENV_VAR} to an empty directory"
        )


# -- the arbiter's private directory ----------------------------------------------------------


class WorkersDirectory:
    """The multiprocess directory gunicorn's arbiter gives its workers (one per
    :class:`~gatewatch.runtime.Runtime`, prepared by :mod:`gatewatch.integrations.gunicorn`'s
    hooks): a forked worker forgets it (:meth:`after_fork`), so only the arbiter removes it."""

    def __init__(self) -> None:
        self.after_fork()

    def after_fork(self) -> None:
        self.prepared = False
        # The directory this process made for its workers, if it made one.
        self.private: str | None = None

    def prepare(self, *, reexecuted: bool = False, owner: tuple[int, int] | None = None) -> str | None:
        """In gunicorn's arbiter, before it loads the app (``--preload``) or forks a worker:
        give the workers a fresh multiprocess directory, once per arbiter process.

        Without ``PROMETHEUS_MULTIPROC_DIR``, a private temporary directory (removed by
        :meth:`remove`); with one, it is checked (ValueError) and emptied of an earlier run's
        files, unless ``reexecuted`` (a USR2 upgrade: the old master's workers still write there).
        ``owner``: the (uid, gid) the workers switch to (gunicorn ``--user``/``--group``), who
        must be able to write the private directory. Returns a line for the arbiter's log.
        """
        if self.prepared:
            return None
        found = configured()
        inherited = found is not None and found[1] != "" and found[1] == os.environ.get(PRIVATE_ENV_VAR)
        if found is None or inherited:
            # An inherited private directory belongs to the master that made it, which removes it.
            switch_to = owner if owner is not None and owner != (os.geteuid(), os.getegid()) else None
            path = tempfile.mkdtemp(prefix=PRIVATE_PREFIX, dir=None if switch_to else _live_root())
            if switch_to is not None:
                os.chown(path, *switch_to)
            os.environ[ENV_VAR] = path
            os.environ[PRIVATE_ENV_VAR] = path
            os.environ.pop(ENV_VAR.lower(), None)
            # on_exit is the hook; the runtime's close at exit covers an arbiter leaving without it.
            self.private = path
            message = f"gatewatch: the workers share {ENV_VAR}={path} (removed when gunicorn exits)"
        else:
            name, path = found
            problem = directory_problem(name, path, hooks=True)
            if problem is not None:
                raise ValueError(problem)
            if reexecuted:
                message = f"gatewatch: the workers share {name}={path} with the previous master's"
            else:
                removed = clear_run_files(path)
                message = f"gatewatch: the workers share {name}={path}" + (
                    f"; removed {len(removed)} files of an earlier run" if removed else ""
                )
        use_multiprocess_values()
        self.prepared = True
        return message

    def remove(self) -> None:
        """Remove the directory this process made, if it made one."""
        path, self.private = self.private, None
        if path is None:
            return
        shutil.rmtree(path, ignore_errors=True)
        if os.environ.get(ENV_VAR) == path:
            del os.environ[ENV_VAR]
        if os.environ.get(PRIVATE_ENV_VAR) == path:
            del os.environ[PRIVATE_ENV_VAR]


def _live_root() -> str | None:
    # Inside the live view's private root, the workers' snapshots are where `gatewatch top`
    # looks with no URL. Not when the workers switch user: they could not enter this user's root.
    from gatewatch.export.live.local_dir import shared_root

    return shared_root()
