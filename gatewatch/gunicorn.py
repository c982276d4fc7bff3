"""gunicorn server hooks; in ``gunicorn.conf.py``::

    from gatewatch.gunicorn import child_exit, post_worker_init  # noqa: F401

``post_worker_init`` tells gatewatch how many requests the worker serves at once
(``--threads``, or ``--worker-connections`` for gevent/eventlet workers), for
``gatewatch_wsgi_workers_total``. ``child_exit`` removes a dead worker's live gauges
from prometheus-client's multiprocess files.
"""

from __future__ import annotations

from typing import Any

from gatewatch.prometheus_multiprocess import multiprocess_enabled
from gatewatch.wsgi_workers import set_worker_threads

_GREEN_WORKERS = ("GeventWorker", "GeventPyWSGIWorker", "EventletWorker")


def post_worker_init(worker: Any) -> None:
    cfg = worker.cfg
    if type(worker).__name__ in _GREEN_WORKERS:
        capacity = int(cfg.worker_connections)
    else:
        # The sync worker serves one request at a time; gthread, cfg.threads.
        capacity = max(int(cfg.threads), 1) if type(worker).__name__ == "ThreadWorker" else 1
    set_worker_threads(capacity)


def child_exit(server: Any, worker: Any) -> None:
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
