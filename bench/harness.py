"""Time cases round-robin: per-request time of each batch, the median over rounds."""

from __future__ import annotations

import gc
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter

from bench.cases import Case


@dataclass(frozen=True)
class Timing:
    name: str
    per_request: float  # seconds, median over rounds
    spread: float  # seconds, (max - min) over rounds
    batch: int  # requests per round


def _time_batch(case: Case, n: int) -> float:
    gc.collect()
    started = perf_counter()
    case.run(n)
    return (perf_counter() - started) / n


def calibrate(case: Case, target: float) -> int:
    """Requests per round so that one round takes about ``target`` seconds."""
    case.run(50)  # warm up: first-request caches, label children, lazy imports
    per_request = _time_batch(case, 200)
    return max(100, int(target / max(per_request, 1e-9)))


def measure(cases: Sequence[Case], *, rounds: int, target: float) -> list[Timing]:
    """Interleave the cases in every round, so drift (frequency, other load) hits them alike."""
    for case in cases:
        case.check()
    batches = {case.name: calibrate(case, target) for case in cases}
    samples: dict[str, list[float]] = {case.name: [] for case in cases}
    for round_index in range(rounds):
        # Rotate the order each round so no case always runs first or last.
        shift = round_index % len(cases)
        for case in [*cases[shift:], *cases[:shift]]:
            samples[case.name].append(_time_batch(case, batches[case.name]))
    return [
        Timing(
            name=case.name,
            per_request=statistics.median(samples[case.name]),
            spread=max(samples[case.name]) - min(samples[case.name]),
            batch=batches[case.name],
        )
        for case in cases
    ]
