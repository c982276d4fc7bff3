"""gunicorn server hooks; the whole of ``gunicorn.conf.py`` can be::

    from gatewatch.integrations.gunicorn import *  # noqa: F403

``nworkers_changed`` and ``on_starting`` run in the arbiter before it loads the application
(``--preload``) or forks a worker: without ``PROMETHEUS_MULTIPROC_DIR`` they make a private
directory for the workers' prometheus-client files, which ``on_exit`` removes; with one, they
check it and remove an earlier run's files from it. Every scrape then shows the whole server,
whichever worker answers it. ``post_worker_init`` tells gatewatch how many requests the worker
serves at once (``--threads``, or ``--worker-connections`` for gevent/eventlet workers), for
``gatewatch_wsgi_workers_capacity``. ``child_exit`` removes a dead worker's live gauges from
prometheus-client's multiprocess files at once (without it, the next scrape finds the worker
dead and leaves them out: :mod:`gatewatch.export.prometheus._worker_files`). ``when_ready``
starts the side server in the arbiter when ``GATEWATCH_SIDE_ADDRESS`` is set: ``/metrics`` and the
live view of every worker, answered while every worker is busy (:mod:`gatewatch.export.side_server`).

A configuration that defines one of these hooks itself calls gatewatch's from its own. Each
acts on this process's :class:`~gatewatch.runtime.Runtime` (``runtime=``: another one).
"""

from __future__ import annotations

import os
from typing import Any

from gatewatch._multiprocess_dir import (
    ENV_VAR,
    multiprocess_directory,
    multiprocess_enabled,
)
from gatewatch.options import Options, from_environment
from gatewatch.runtime import Runtime, current

__all__ = ["child_exit", "nworkers_changed", "on_exit", "on_starting", "post_worker_init", "when_ready"]

_GREEN_WORKERS = ("GeventWorker", "GeventPyWSGIWorker", "EventletWorker")


def nworkers_changed(
    server: Any, new_value: int, old_value: int | None, *, runtime: Runtime | None = None
) -> None:
    # The first call comes from the arbiter's set-up, before --preload loads the app (and so
    # before the middleware decides on multiprocess mode): on_starting would be too late then.
    _prepare(server, runtime)


def on_starting(server: Any, *, runtime: Runtime | None = None) -> None:
    # For a configuration that replaced nworkers_changed with its own.
    if server.cfg.preload_app and not (runtime or current()).workers_directory.prepared:
        # The app was loaded already, recording into this process's memory: switching the
        # workers to the files now would leave its numbers out of every scrape.
        server.log.warning(
            "gatewatch: --preload loaded the app before on_starting; gatewatch's nworkers_changed "
            "hook must run to set up %s before it (`from gatewatch.integrations.gunicorn import *`)",
            ENV_VAR,
        )
        return
    _prepare(server, runtime)


def when_ready(server: Any, *, runtime: Runtime | None = None) -> None:
    # The arbiter, after it daemonised and before it forks the workers (which let go of the
    # socket: Runtime.after_fork). It reads the environment only: it loads no app settings.
    try:
        options = Options(**from_environment())
    except ValueError as exc:
        server.log.error("gatewatch: %s", exc)
        raise SystemExit(1) from None
    side = (runtime or current()).serve_workers_side(options)
    if side is not None:
        server.log.info(
            "gatewatch: /metrics and the live view of every worker at http://%s:%d", side.host, side.port
        )


def on_exit(server: Any, *, runtime: Runtime | None = None) -> None:
    (runtime or current()).workers_directory.remove()


def post_worker_init(worker: Any, *, runtime: Runtime | None = None) -> None:
    cfg = worker.cfg
    if type(worker).__name__ in _GREEN_WORKERS:
        capacity = int(cfg.worker_connections)
    else:
        # The sync worker serves one request at a time; gthread, cfg.threads.
        capacity = max(int(cfg.threads), 1) if type(worker).__name__ == "ThreadWorker" else 1
    (runtime or current()).worker_capacity.set(capacity)


def child_exit(server: Any, worker: Any) -> None:
    if multiprocess_enabled():
        from gatewatch.export.prometheus._worker_files import forget_live_gauges

        # prometheus-client's mark_process_dead, tolerating a scrape that removed them first.
        forget_live_gauges(multiprocess_directory(), worker.pid)


def _prepare(server: Any, runtime: Runtime | None) -> None:
    try:
        # gunicorn's USR2 upgrade starts the new master with GUNICORN_PID set.
        message = (runtime or current()).workers_directory.prepare(
            reexecuted="GUNICORN_PID" in os.environ, owner=(int(server.cfg.uid), int(server.cfg.gid))
        )
    except ValueError as exc:
        # One line in gunicorn's own log and a failed start, before any worker exists; a
        # traceback through gunicorn's start-up would bury it.
        server.log.error("gatewatch: %s", exc)
        raise SystemExit(1) from None
    if message is not None:
        server.log.info("%s", message)
