"""Short-lived worker processes writing through gatewatch's real multiprocess sink, and
scrapers reading their directory: the folding of dead workers' files is checked on them.

Run as a script (``python -m tests.support.dying_workers``) so that the forks happen in a
process of their own, never in pytest's:

- ``workers DIR N``: N workers one after another, worker ``i`` serving ``i + 1`` requests of
  ``/a`` and one of ``/b``, each exiting (and reaped) before the next starts;
- ``live DIR N``: one worker serving N requests, then waiting for its standard input to close;
- ``scrape DIR BATCH ROUNDS``: ROUNDS scrapes folding at most BATCH files each, printing each
  scrape's request count (a line per scrape);
- ``scrape-until-folded DIR BATCH``: scrapes until no dead worker's file is left unfolded.
"""

from __future__ import annotations

import os
import sys
import time

from gatewatch._multiprocess_dir import ENV_VAR

DURATION_COUNT = "gatewatch_http_request_duration_seconds_count"
RESPONSE_BYTES = "gatewatch_http_response_body_bytes_total"
# Each request's response body: the requests counted again, by a counter.
BODY = 10


def requests_of(workers: int) -> int:
    """How many requests ``workers DIR workers`` serves in all."""
    return sum(index + 2 for index in range(workers))


def serve(requests: int, extra: int = 1) -> None:
    """In a worker: ``requests`` requests of ``/a`` and ``extra`` of ``/b``, recorded through a
    process monitor writing prometheus-client's files."""
    from gatewatch.export.prometheus.multiprocess import new_process_monitor

    monitor, _ = new_process_monitor()
    monitor.note_server("wsgi", "gunicorn")
    for route, count in (("/a", requests), ("/b", extra)):
        for _ in range(count):
            record = monitor.start("wsgi", "GET", route)
            record.route = route
            record.status = 200
            record.response_bytes = BODY
            record.response_ended()
            monitor.leave_in_flight(record)
            monitor.finish(record, time.perf_counter())


def dying_workers(count: int) -> None:
    # Imported once, before the forks: each worker then only builds its monitor.
    import gatewatch.export.prometheus.multiprocess  # noqa: F401

    for index in range(count):
        pid = os.fork()
        if pid == 0:
            try:
                serve(index + 1)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert status == 0, status


def scrape_count(directory: str, batch: int) -> tuple[float, float]:
    """The requests a scrape counts, by a histogram and by a counter (both kinds are folded)."""
    from prometheus_client import CollectorRegistry, generate_latest

    from gatewatch.export.prometheus._worker_files import WorkerFilesCollector
    from gatewatch.export.prometheus.scrape_summary import parse, total

    registry = CollectorRegistry()
    WorkerFilesCollector(registry, directory, fold_batch=batch)
    found = parse(generate_latest(registry).decode())
    return total(found, DURATION_COUNT), total(found, RESPONSE_BYTES) / BODY


def unfolded(directory: str) -> list[str]:
    """Dead workers' files not folded yet (pid files of processes gone, claimed files)."""
    from gatewatch._processes import process
    from gatewatch.export.prometheus import _fold

    manifest = _fold.read_manifest(directory)

    def dead(name: str) -> bool:
        found = _fold._PID_FILE.match(name)
        if found is not None:
            return bool(found.group(3)) or not process(int(found.group(2))).running
        return _fold._CLAIMED.match(name) is not None and name not in manifest.absorbed

    return sorted(name for name in os.listdir(directory) if dead(name))


def main(argv: list[str]) -> None:
    command, directory, *numbers = argv
    os.environ[ENV_VAR] = directory
    if command == "workers":
        dying_workers(int(numbers[0]))
    elif command == "live":
        serve(int(numbers[0]), 0)
        print("ready", flush=True)
        sys.stdin.read()
    elif command == "scrape":
        batch, rounds = int(numbers[0]), int(numbers[1])
        for _ in range(rounds):
            print(*scrape_count(directory, batch), flush=True)
    elif command == "scrape-until-folded":
        while unfolded(directory):
            print(*scrape_count(directory, int(numbers[0])), flush=True)
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
