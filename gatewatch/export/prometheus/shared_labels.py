"""Label caps that hold for a whole server of worker processes, not one process at a time.

Under gunicorn ``-w N`` every worker admits label values (route templates, exception types,
WebSocket close codes) on its own; a per-process cap of 500 routes is N times 500 series, and
with ``--max-requests`` every recycled worker admits 500 more. In multiprocess mode the
admitted values therefore live in a file beside prometheus-client's own, appended under an
exclusive ``flock``: the first ``limit`` distinct values of the whole server are admitted and
every later newcomer, in any process, shares the overflow label.

Only a value a process has not seen yet touches the file; once the file holds ``limit``
values it can never admit another, so from then on a process rejects newcomers without it.
"""

from __future__ import annotations

import fcntl
import json
import os
from typing import BinaryIO


class SharedAdmission:
    """The server-wide admission list behind one :class:`~gatewatch._labels.BoundedLabels`."""

    def __init__(self, path: str, *, limit: int) -> None:
        self.path = path
        self._limit = limit
        self._known: set[str] = set()
        # How far this process has read the file (it is only ever appended to).
        self._read_to = 0

    def admit(self, value: str) -> bool:
        """Whether ``value`` is one of the server's first ``limit`` distinct values (admitting
        it now if there is room). The caller holds its own lock and caches the answer."""
        if value in self._known:
            return True
        if len(self._known) >= self._limit:
            return False
        with open(self.path, "a+b") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            try:
                self._read_new(file)
                if value in self._known:
                    return True
                if len(self._known) >= self._limit:
                    return False
                line = json.dumps(value).encode() + b"\n"
                file.write(line)
                file.flush()
                self._read_to += len(line)
                self._known.add(value)
                return True
            finally:
                fcntl.flock(file, fcntl.LOCK_UN)

    def _read_new(self, file: BinaryIO) -> None:
        # What other processes appended since this one last read.
        file.seek(self._read_to)
        data = file.read()
        # A line is whole: writers append under the lock.
        for raw in data.splitlines():
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if isinstance(value, str):
                self._known.add(value)
        self._read_to += len(data)


def shared_admission(directory: str, kind: str, *, limit: int) -> SharedAdmission:
    """The admission list for ``kind`` (routes, exceptions, close codes) in ``directory``."""
    return SharedAdmission(os.path.join(directory, f"gatewatch_labels_{kind}.jsonl"), limit=limit)
