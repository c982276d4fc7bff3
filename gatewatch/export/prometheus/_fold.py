"""Dead workers' prometheus-client files folded into one file per kind.

prometheus-client writes one file per kind per worker process (``counter_<pid>.db``,
``histogram_<pid>.db``, ``gauge_max_<pid>.db``...) and every scrape merges all of them. Under
``--max-requests`` recycling, every worker ever started leaves its files: thousands of them,
and a scrape that reads them all (client_python#367: 6 800 files, 40 s a scrape). A dead
worker's counters, histograms and sum/max/min gauges merge by adding (or taking the max/min)
across files, so they can be added together once, into one *folded* file per kind, and the
scrape then reads the running workers' files and the folded ones, however many died.

Every step keeps the directory correct for a scrape, even when the folding process is killed
between two steps, and the steps run under an exclusive ``flock`` (scrapes read under a shared
one), so no count is lost or read twice:

1. *claim*: a file whose writer is gone is renamed out of prometheus-client's pid names
   (``counter_<pid>.db`` -> ``counter_dead-<pid>-<inode>.db``), so that a new process given the
   same pid makes a file of its own instead of carrying on in the dead one's. A process with
   that pid running after the rename may have opened the file just before it: the file is
   given back (a hard link, so that a file the new process made meanwhile is never replaced).
2. *write* the next generation of folded files (``counter_folded-<n>.db``): the current ones
   plus a batch of claimed files. Unlisted, they are not read yet.
3. *commit*: the manifest (``gatewatch-folded.json``, replaced atomically) names the folded
   files to read and the claimed files they absorbed, which scrapes skip from then on.
4. *remove* the absorbed files and the previous generation. Whatever a killed fold left (a
   generation never committed, absorbed files still there) the next fold removes first.

Only files of writers that are *gone* (:mod:`gatewatch._processes`) are folded; the directory
must not be shared with processes of another pid namespace (a container's), as for the rest
of the multiprocess mode. At most ``batch`` files are folded at a time, so a scrape after
thousands of deaths stays bounded; the following scrapes fold the rest.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.mmap_dict import MmapedDict

from gatewatch._processes import process

MANIFEST = "gatewatch-folded.json"
LOCK = ".gatewatch-fold.lock"
# Files folded per scrape (the lock is held that long). Folding a file costs less than the
# merge reading it, which the scrape would do otherwise: a scrape meeting more files folds this
# many and reads the others as before, and the next scrapes fold them.
BATCH = 2048
# The last writers folded that the manifest names (a start-up message shows four pids).
WRITERS_KEPT = 16
# Test-only: the folding process kills itself (SIGKILL) after this step ("claimed",
# "written", "committed", "removed"), to prove a fold killed anywhere loses and doubles nothing.
STOP_ENV = "GATEWATCH_FOLD_STOP_AT"

# prometheus-client's kinds whose files merge by adding, or by the max or min: no pid label.
_KINDS = r"counter|histogram|summary|gauge_sum|gauge_max|gauge_min"
# A worker's file, and a dead worker's in-flight gauges at 0 (_worker_files.retire).
_PID_FILE = re.compile(rf"^({_KINDS})_(\d+)(-ended)?\.db$")
_CLAIMED = re.compile(rf"^({_KINDS})_dead-(\d+)(e?)-(\d+)(?:-\d+)?\.db$")
_FOLDED = re.compile(rf"^({_KINDS})_folded-(\d+)\.db$")


@dataclass(frozen=True)
class Manifest:
    """The committed fold: the folded files to read, the claimed files they absorbed, and the
    last writers folded (pid, last write), for a new worker's start-up message."""

    generation: int = 0
    folded: tuple[str, ...] = ()
    absorbed: frozenset[str] = field(default_factory=frozenset)
    writers: tuple[tuple[int, float], ...] = ()


# Per directory: the manifest's bytes as last read, and what they say. Every scrape reads the
# manifest twice (fold, then the files' choice); after thousands of deaths it names thousands
# of absorbed files, parsed again only when its bytes change.
_PARSED: dict[str, tuple[bytes, Manifest]] = {}
_PARSED_KEPT = 8


def read_manifest(directory: str) -> Manifest:
    try:
        with open(os.path.join(directory, MANIFEST), "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return Manifest()
    known = _PARSED.get(directory)
    if known is not None and known[0] == data:
        return known[1]
    found = json.loads(data)
    writers = tuple((int(pid), float(written)) for pid, written in found.get("writers", ()))
    manifest = Manifest(
        int(found["generation"]), tuple(found["folded"]), frozenset(found["absorbed"]), writers
    )
    if len(_PARSED) >= _PARSED_KEPT:
        _PARSED.clear()
    _PARSED[directory] = (data, manifest)
    return manifest


def is_folded(name: str) -> bool:
    """Whether ``name`` is a folded file's (written once, read until the next generation)."""
    return _FOLDED.match(name) is not None


def _write_manifest(directory: str, manifest: Manifest) -> None:
    data = {
        "generation": manifest.generation,
        "folded": list(manifest.folded),
        "absorbed": sorted(manifest.absorbed),
        "writers": [list(writer) for writer in manifest.writers],
    }
    fd, temporary = tempfile.mkstemp(".tmp", ".gatewatch-folded-", directory)
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(data, file)
        os.replace(temporary, os.path.join(directory, MANIFEST))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def visible_files(directory: str, names: Iterable[str], manifest: Manifest) -> list[str]:
    """The paths of ``names`` (a listing of ``directory``) a scrape merges: not the claimed
    files the committed fold absorbed, nor folded files it does not name, nor a claimed file
    given back to a running process (a killed fold can leave both of its names)."""
    names = list(names)
    present = set(names)
    return [
        os.path.join(directory, name)
        for name in names
        if name.endswith(".db")
        and name not in manifest.absorbed
        and not (_FOLDED.match(name) and name not in manifest.folded)
        and not _given_back(directory, name, present)
    ]


def _given_back(directory: str, name: str, present: set[str]) -> bool:
    """Whether ``name`` is a claimed file whose pid name still holds the same file."""
    claimed = _CLAIMED.match(name)
    if claimed is None or claimed.group(3):
        return False
    original = f"{claimed.group(1)}_{claimed.group(2)}.db"
    return original in present and _inode(os.path.join(directory, original)) == int(claimed.group(4))


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


@dataclass
class FoldLock:
    """The directory's fold lock as held: ``exclusive`` (this process may fold), or shared
    (others may be reading), or not at all (a directory this process cannot write)."""

    held: bool
    exclusive: bool
    fd: int = -1

    def share(self) -> None:
        """An exclusive lock made shared: others may read (a scrape reading after its fold)."""
        if self.held and self.exclusive:
            fcntl.flock(self.fd, fcntl.LOCK_SH)
            self.exclusive = False


@contextlib.contextmanager
def fold_lock(directory: str, *, fold: bool = True) -> Iterator[FoldLock]:
    """Hold the directory's fold lock: exclusive when no one else holds it and ``fold``, else
    shared (waiting for a fold under way: one batch)."""
    try:
        fd = os.open(os.path.join(directory, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        # Read-only or foreign: read the files as they are, without folding.
        yield FoldLock(held=False, exclusive=False)
        return
    try:
        exclusive = False
        if fold:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                exclusive = True
            except BlockingIOError:
                pass
        if not exclusive:
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield FoldLock(held=True, exclusive=exclusive, fd=fd)
    finally:
        # Closing the descriptor releases the lock.
        os.close(fd)


def _stop(step: str) -> None:
    if os.environ.get(STOP_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def fold(directory: str, *, batch: int = BATCH) -> int:
    """Fold up to ``batch`` files of dead workers (the caller holds the exclusive
    :func:`fold_lock`). Returns how many files were folded."""
    manifest = read_manifest(directory)
    names = _remove_leftovers(directory, os.listdir(directory), manifest)
    taken = set(names) | manifest.absorbed
    claimed = [name for name in names if _CLAIMED.match(name)]
    writers = dict(manifest.writers)
    for name in sorted(names):
        if len(claimed) >= batch:
            break
        match = _PID_FILE.match(name)
        if match is None:
            continue
        kind, pid, ended = match.group(1), int(match.group(2)), bool(match.group(3))
        # A retired gauge file (all zeros) is written whole and never again: no writer to ask.
        if not ended and process(pid).running:
            continue
        try:
            written = os.stat(os.path.join(directory, name)).st_mtime
        except OSError:
            continue
        stem = f"{kind}_dead-{pid}{'e' if ended else ''}"
        new = _claim(directory, name, stem, None if ended else pid, taken)
        if new is not None:
            claimed.append(new)
            if not ended:
                # Newest last (several files per writer: its last write).
                writers[pid] = max(written, writers.pop(pid, written))
            _stop("claimed")
    absorbing = claimed[:batch]
    if not absorbing:
        return 0
    generation = manifest.generation + 1
    folded = _write_generation(directory, generation, [*manifest.folded, *absorbing])
    _stop("written")
    recent = tuple(writers.items())[-WRITERS_KEPT:]
    _write_manifest(directory, Manifest(generation, folded, frozenset(absorbing), recent))
    _stop("committed")
    for name in [*manifest.folded, *absorbing]:
        if name not in folded:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))
            _stop("removed")
    return len(absorbing)


def _remove_leftovers(directory: str, names: list[str], manifest: Manifest) -> list[str]:
    """Remove what an earlier fold left behind (files it absorbed; a generation it did not
    commit); returns ``names`` without them."""
    kept = []
    for name in names:
        stray = _FOLDED.match(name) is not None and name not in manifest.folded
        if name in manifest.absorbed or stray:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))
        else:
            kept.append(name)
    # A claimed file given back to a running process by a fold killed before it removed the
    # claimed name: the same file under both names.
    present = set(kept)
    for name in [n for n in kept if _given_back(directory, n, present)]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, name))
        kept.remove(name)
    return kept


def _claim(directory: str, name: str, stem: str, pid: int | None, taken: set[str]) -> str | None:
    """Rename a dead writer's file out of prometheus-client's pid names; its new name, or None
    when it is gone or was given back to a process now running with its pid."""
    path = os.path.join(directory, name)
    inode = _inode(path)
    if inode is None:
        return None
    new = f"{stem}-{inode}.db"
    suffix = 0
    while new in taken:
        suffix += 1
        new = f"{stem}-{inode}-{suffix}.db"
    target = os.path.join(directory, new)
    try:
        os.rename(path, target)
    except OSError:
        return None
    taken.add(new)
    if pid is not None and process(pid).running:
        # Started since it was found dead: it may have opened the file before the rename.
        try:
            os.link(target, path)
        except FileExistsError:
            # It made a file of its own: the claimed one is the dead writer's alone.
            return new
        os.unlink(target)
        return None
    return new


def _write_generation(directory: str, generation: int, sources: list[str]) -> tuple[str, ...]:
    """Write the folded files of ``generation`` from ``sources`` (folded and claimed files);
    their names."""
    by_kind: dict[str, dict[str, tuple[float, float]]] = {}
    for name in sources:
        match = _FOLDED.match(name) or _CLAIMED.match(name)
        if match is None:
            continue
        kind = match.group(1)
        values = by_kind.setdefault(kind, {})
        path = os.path.join(directory, name)
        try:
            read = MmapedDict.read_all_values_from_file(path)  # type: ignore[no-untyped-call]
        except FileNotFoundError:
            continue
        for key, value, timestamp, _ in read:
            before = values.get(key)
            values[key] = (value, timestamp) if before is None else _combine(kind, before, (value, timestamp))
    written = []
    for kind, values in sorted(by_kind.items()):
        new = f"{kind}_folded-{generation}.db"
        path = os.path.join(directory, new)
        # A generation a killed fold began and never committed.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        target = MmapedDict(path)  # type: ignore[no-untyped-call]
        try:
            for key, (value, timestamp) in values.items():
                target.write_value(key, value, timestamp)  # type: ignore[no-untyped-call]
        finally:
            target.close()  # type: ignore[no-untyped-call]
        written.append(new)
    return tuple(written)


def _combine(kind: str, a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """Two files' values of one sample as prometheus-client's merge combines them."""
    if kind == "gauge_max":
        return max(a, b)
    if kind == "gauge_min":
        return min(a, b)
    return a[0] + b[0], max(a[1], b[1])
