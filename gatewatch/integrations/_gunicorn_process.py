"""Where this process stands in a gunicorn server: how many workers it runs, and whether this
process is a worker its master started (or the server itself).

gunicorn gives an application no handle on its server, so its own objects are found where
gunicorn holds them: on the call stack while it loads the application (the arbiter under
``--preload``, otherwise the worker), or behind the signal handlers it installs.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Any


@dataclass(frozen=True)
class GunicornProcess:
    """This process's place in a gunicorn server."""

    workers: int
    # This worker's spawn number (the first workers are 1..workers); None in the arbiter.
    worker_age: int | None


def started_by_a_master(gunicorn: GunicornProcess | None) -> bool:
    """Whether this process is a worker its server's master started (gunicorn's arbiter forks
    them; uvicorn, hypercorn and granian start theirs with multiprocessing), ``gunicorn`` being
    :func:`gunicorn_process`'s answer. The arbiter itself (``--preload``) is the server."""
    return (gunicorn is not None and gunicorn.worker_age is not None) or (
        multiprocessing.parent_process() is not None
    )


def gunicorn_process() -> GunicornProcess | None:
    """The gunicorn server this process serves in, or None when not under gunicorn.

    gunicorn loads the application from inside its arbiter (``--preload``) or its worker
    object, so at a middleware's construction one of them is on the call stack, holding the
    server's own resolved configuration (``-w``, ``WEB_CONCURRENCY``, ``GUNICORN_CMD_ARGS``,
    the config file). Later, from another thread, the worker's signal handlers lead to it.
    """
    if "gunicorn.arbiter" not in sys.modules and "gunicorn.workers.base" not in sys.modules:
        return None
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

    owners: list[Any] = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, (Arbiter, Worker)):
            owners.append(candidate)
        frame = frame.f_back
    if not owners:
        for signum in (signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1):
            candidate = getattr(signal.getsignal(signum), "__self__", None)
            if isinstance(candidate, (Arbiter, Worker)):
                owners.append(candidate)
                break
    workers = 0
    age = None
    for owner in owners:
        workers = max(workers, int(owner.cfg.workers))
        if isinstance(owner, Arbiter):
            # Raised by TTIN since start-up: the configuration keeps the first number.
            workers = max(workers, int(owner.num_workers or 0))
        elif age is None:
            age = int(owner.age)
    if not owners:
        return None
    return GunicornProcess(workers=workers, worker_age=age)
