"""The live view's local channel: a directory of this user's that no one else can open, where
every process writes its snapshot and ``gatewatch top`` reads it, no HTTP involved.

Headers cannot tell a local user from a stranger behind a proxy on the same host (nginx's
default ``proxy_pass`` sends a loopback ``Host`` from a loopback peer), so the HTTP live view
needs a token; without one, the operating system's file permissions decide who reads.

Where, when neither ``GATEWATCH_LIVE_DIR`` nor a multiprocess directory is set (those hold the
snapshots of their workers already, and ``gatewatch top --dir`` reads them):
``$XDG_RUNTIME_DIR/gatewatch`` when that variable is set (systemd's ``/run/user/<uid>``: a
per-user tmpfs, mode 0700, emptied at logout), else (or when that one cannot be made: ``su``
keeps the other user's variable) ``<tempdir>/gatewatch-<uid>``. A server run
by systemd as a service has no ``XDG_RUNTIME_DIR`` while its user's shell has one, so the
reader looks in both. Each process writes into ``<root>/pid-<pid>/`` (one directory per server,
removed when the process exits); gatewatch's gunicorn hooks make their workers' shared
directory inside the root too, so one server's workers are one directory.

A directory is used, and read, only when it is a real directory (not a link) owned by this user
with no permission for anyone else: in a shared ``/tmp`` another user could create the name
first, and would then see or forge the view.

Writing costs a busy process about 2 ms of CPU a snapshot (its JSON), so a process's own
directory is rewritten every half second only while a reader has marked it read lately
(:func:`mark_read`, which ``gatewatch top`` does at every poll), else every few seconds
(:mod:`gatewatch.export.live.snapshot_files`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping

from gatewatch._processes import process_running
from gatewatch.export.live.schema import LiveView
from gatewatch.export.live.snapshot_files import (
    FILE_PREFIX,
    STALE_AFTER,
    mark_read,
    merged_snapshot,
    others_can_write,
)

__all__ = [
    "local_roots",
    "make_private_dir",
    "mark_read",
    "own_server_dir",
    "private_problem",
    "read_dir",
    "server_dirs",
    "shared_root",
    "usable_root",
    "workers_local_dir",
]

ROOT_NAME = "gatewatch"
SERVER_PREFIX = "pid-"


def local_roots(environ: Mapping[str, str] | None = None) -> list[str]:
    """Where local snapshots live, in order of preference: the writer uses the first."""
    environ = os.environ if environ is None else environ
    roots = []
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        roots.append(os.path.join(runtime, ROOT_NAME))
    roots.append(os.path.join(tempfile.gettempdir(), f"{ROOT_NAME}-{os.getuid()}"))
    return roots


def private_problem(path: str) -> str | None:
    """Why ``path`` is not a directory only this user can use, or None when it is one."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{path} is not a directory"
    if info.st_uid != os.getuid():
        return f"{path} belongs to uid {info.st_uid}, not to this user (uid {os.getuid()})"
    if info.st_mode & 0o077:
        return f"{path} has mode {stat.S_IMODE(info.st_mode):o}; only its owner may use it (chmod 0700)"
    return None


def make_private_dir(path: str) -> None:
    """Create ``path`` (mode 0700) unless it exists; ValueError unless it is then private."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    problem = private_problem(path)
    if problem is not None:
        raise ValueError(f"the live view's local directory is unsafe: {problem}")


def usable_root() -> str:
    """The first root that is, or can be made, private to this user. The next one serves when
    the first cannot (``su`` keeps the other user's ``XDG_RUNTIME_DIR``); OSError or ValueError
    saying why the last one cannot."""
    problem: Exception = ValueError("no root for the live view's local directory")
    for root in local_roots():
        try:
            make_private_dir(root)
        except (OSError, ValueError) as exc:
            problem = exc
            continue
        return root
    raise problem


def own_server_dir(server_pid: int | None = None) -> str:
    """This process's directory under the first usable root (named after ``server_pid``, by
    default this process), created private; its snapshot writer removes it when closed, at exit
    (or, when the process dies first, the next one starting does)."""
    root = usable_root()
    remove_dead_servers(root)
    path = os.path.join(root, f"{SERVER_PREFIX}{os.getpid() if server_pid is None else server_pid}")
    make_private_dir(path)
    return path


def workers_local_dir(shared: str) -> str | None:
    """Where a process whose snapshot goes to the workers' shared directory ``shared`` writes it
    again for ``gatewatch top`` with no URL, which looks only under the local roots: None when
    ``shared`` is in one already (gatewatch's gunicorn hooks), else ``pid-<server>`` under the
    first usable root, the server being a worker's parent (uvicorn, hypercorn and granian start
    their workers with multiprocessing, gunicorn forks them), so one server's workers are one
    directory there too. OSError or ValueError when no root can be made private."""
    parent = os.path.dirname(os.path.realpath(shared))
    if any(parent == os.path.realpath(root) for root in local_roots()):
        return None
    from gatewatch.integrations._gunicorn_process import gunicorn_process, started_by_a_master

    return own_server_dir(os.getppid() if started_by_a_master(gunicorn_process()) else None)


def shared_root() -> str | None:
    """The root, created private, for a directory the workers of one server share (gatewatch's
    gunicorn hooks); None when it cannot be made safe (the caller then makes one elsewhere)."""
    try:
        return usable_root()
    except (OSError, ValueError):
        return None


def remove_dead_servers(root: str) -> list[str]:
    """Remove the directories in ``root`` of processes that are gone: killed (uvicorn ends by
    its signal again after a graceful shutdown, so no exit hook runs), their files stay behind.
    Returns the names removed."""
    removed = []
    with contextlib.suppress(OSError), os.scandir(root) as entries:
        for entry in entries:
            pid = _server_pid(entry.name)
            if pid is None or pid == os.getpid() or process_running(pid):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.name)
    return sorted(removed)


def _server_pid(name: str) -> int | None:
    return _pid(name[len(SERVER_PREFIX) :]) if name.startswith(SERVER_PREFIX) else None


def _pid(digits: str) -> int | None:
    """A process id written in a name; 0 (a process group for os.kill) and numbers too large
    for one (OverflowError) are none."""
    return int(digits) if digits.isascii() and digits.isdigit() and 0 < int(digits) < 2**31 else None


def server_dirs(roots: list[str] | None = None) -> list[str]:
    """The directories under the local roots where a running process keeps its snapshot fresh,
    sorted; roots and directories that are not private are skipped."""
    found = []
    for root in local_roots() if roots is None else roots:
        if private_problem(root) is not None:
            continue
        with contextlib.suppress(OSError):
            for entry in sorted(os.scandir(root), key=lambda entry: entry.name):
                if not entry.is_dir(follow_symlinks=False) or private_problem(entry.path) is not None:
                    continue
                if _written_by_a_live_process(entry.path):
                    found.append(entry.path)
    return found


def _written_by_a_live_process(directory: str) -> bool:
    fresh_after = time.time() - STALE_AFTER
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            if not (name.startswith(FILE_PREFIX) and name.endswith(".json")):
                continue
            pid = _pid(name[len(FILE_PREFIX) : -len(".json")].split("-")[0])
            with contextlib.suppress(OSError):
                if (
                    pid is not None
                    and entry.stat(follow_symlinks=False).st_mtime >= fresh_after
                    and process_running(pid)
                ):
                    return True
    return False


def read_dir(path: str) -> LiveView:
    """Every live process's snapshot in ``path``; ValueError when the directory is not this
    user's alone to write (its files could be forged)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ValueError(f"{path} is not a directory")
    if others_can_write(info):
        raise ValueError(
            f"{path} can be written by other users (mode {stat.S_IMODE(info.st_mode):o}, owner uid "
            f"{info.st_uid}); its snapshots could be forged"
        )
    mark_read(path)
    return merged_snapshot(path)
