"""How many requests this WSGI process can serve at once (its worker threads).

The server knows and the application does not: the ``worker_threads`` option or a
gunicorn hook (:mod:`gatewatch.integrations.gunicorn`, which sets it for the process) says so;
failing both, a server that declares ``wsgi.multithread`` false serves one request at a time.
Busy threads are the WSGI requests in flight, so saturation is visible as busy versus
this capacity.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping
from typing import Any


class WorkerCapacity:
    """The capacity of this process, once told (one per :class:`~gatewatch.runtime.Runtime`)."""

    def __init__(self) -> None:
        self.threads: int | None = None
        # The middlewares to tell when it becomes known (gunicorn's post_worker_init runs after
        # the app is loaded): held weakly, a middleware dropped is forgotten.
        # A compiled middleware (mypyc) takes no weak reference: its listener is held strongly.
        self._listeners: list[Callable[[], Callable[[], None] | None]] = []

    def set(self, threads: int) -> None:
        """This process serves at most ``threads`` requests at once."""
        check_worker_threads("worker_threads", threads)
        self.threads = threads
        for reference in list(self._listeners):
            listener = reference()
            if listener is None:
                self._listeners.remove(reference)
            else:
                try:
                    listener()
                except Exception:  # gunicorn's hook must boot the worker whatever fails here
                    logging.getLogger("gatewatch").exception("gatewatch could not note the worker capacity")

    def when_known(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (a bound method, held weakly) whenever :meth:`set` runs, so the
        capacity is exported from the start rather than from the first request."""
        try:
            self._listeners.append(weakref.WeakMethod(listener))
        except TypeError:  # a compiled method (the compiled build's middlewares)
            self._listeners.append(lambda: listener)

    def after_fork(self) -> None:
        # A value set before a fork is the parent's; the middlewares listening are the child's too.
        self.threads = None


def threads_from_environ(environ: Mapping[str, Any]) -> int | None:
    """A single-threaded server says so in every environ (PEP 3333 ``wsgi.multithread``)."""
    return 1 if environ.get("wsgi.multithread") is False else None


def check_worker_threads(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, got {type(value).__name__}")
    if not 1 <= value <= 100_000:
        raise ValueError(f"{name} must be between 1 and 100000, got {value!r}")
