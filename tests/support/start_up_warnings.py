"""What gatewatch logs when a worker starts on a multiprocess directory, read in a child
process started as uvicorn, hypercorn and granian start their workers (multiprocessing's
spawn), so that the pids and start times it compares are a real worker's."""

from __future__ import annotations

import logging
import multiprocessing
from pathlib import Path

from gatewatch import _multiprocess_dir as md


def start_up_warnings(directory: Path) -> list[tuple[str, str]]:
    """``(level, message)`` of each record gatewatch logged while a fresh worker checked
    ``directory`` for stale files."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[list[tuple[str, str]]] = context.Queue()
    worker = context.Process(target=_warn_in_a_worker, args=(str(directory), results))
    worker.start()
    try:
        return results.get(timeout=60)
    finally:
        worker.join(timeout=60)


def _warn_in_a_worker(directory: str, results: multiprocessing.Queue[list[tuple[str, str]]]) -> None:
    records: list[tuple[str, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((record.levelname, record.getMessage()))

    logger = logging.getLogger("gatewatch")
    logger.setLevel(logging.INFO)
    logger.addHandler(Keep())
    md.warn_stale_files(directory)
    results.put(records)
