"""Worker processes writing every kind of multiprocess file: gatewatch's series through its real
sink (a request left in flight, WSGI worker threads: ``liveall`` gauges with a pid label, the
server's info gauge: ``max``) and a user's own prometheus-client metrics of every kind and
gauge mode, with histogram buckets that differ between workers.

Run as a script (``python -m tests.support.merge_workers``), so that the forks happen in a
process of their own:

- ``workers DIR N [flip]``: N workers one after another, each exiting before the next starts
  (``flip``: a user's gauge whose mode differs between workers);
- ``live DIR [plain]``: one worker that serves, then waits for its standard input to close
  (``plain``: gatewatch's series only).
"""

from __future__ import annotations

import os
import sys
import time

from gatewatch._multiprocess_dir import ENV_VAR


def serve(index: int, *, flip: bool = False, user: bool = True) -> None:
    """gatewatch's requests and a user's metrics, written by worker ``index``."""
    from prometheus_client import Counter, Gauge, Histogram, Summary

    from gatewatch.export.prometheus.multiprocess import new_process_monitor

    monitor, _ = new_process_monitor()
    monitor.note_server("wsgi", "gunicorn")
    monitor.note_worker_threads(2)
    for number in range(index + 3):
        route = f"/items/{number % 4}"
        record = monitor.start("wsgi", "GET" if number % 3 else "POST", route)
        record.route = route
        record.status = 200 if number % 5 else 500
        record.cpu = 0.001 * number
        record.first_byte = record.start + 0.002
        record.request_bytes, record.response_bytes = number, 10 * number
        record.response_ended()
        monitor.leave_in_flight(record)
        monitor.finish(record, time.perf_counter() + 0.001 * number)
    # One request still in flight when the worker ends.
    monitor.start("wsgi", "GET", "/held")

    if not user:
        return
    kind = "even" if index % 2 == 0 else "odd"
    Counter("user_jobs", "Jobs done.", ["kind"], registry=None).labels(kind).inc(index + 1)
    for mode in ("max", "min", "sum", "livesum", "all", "liveall", "mostrecent", "livemax"):
        gauge = Gauge(f"user_{mode}", f"A {mode} gauge.", ["kind"], registry=None, multiprocess_mode=mode)
        gauge.labels(kind).set(index * 1.5 - 2)
    histogram = Histogram("user_latency", "Latency.", ["kind"], registry=None, buckets=(0.1, 1.0, 10.0))
    histogram.labels(kind).observe(index * 0.4)
    # Two bucket settings, for one series and for a series each.
    ragged = (1.0, 2.0) if index % 2 == 0 else (0.5, 1.0, 3.0)
    Histogram("user_ragged", "Ragged.", registry=None, buckets=ragged).observe(index)
    by_kind = Histogram("user_ragged_by", "Ragged.", ["kind"], registry=None, buckets=ragged)
    by_kind.labels(kind).observe(index)
    Summary("user_size", "Sizes.", ["kind"], registry=None).labels(kind).observe(index * 10)
    if flip:
        flipped = Gauge("user_flip", "Flips.", registry=None, multiprocess_mode="sum" if index % 2 else "max")
        flipped.set(index)


def main(argv: list[str]) -> None:
    command, directory, *rest = argv
    os.environ[ENV_VAR] = directory
    if command == "workers":
        import gatewatch.export.prometheus.multiprocess  # noqa: F401

        for index in range(int(rest[0])):
            pid = os.fork()
            if pid == 0:
                try:
                    serve(index, flip=rest[1:] == ["flip"])
                finally:
                    os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert status == 0, status
    elif command == "live":
        serve(7, user=rest != ["plain"])
        print("ready", flush=True)
        sys.stdin.read()
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
