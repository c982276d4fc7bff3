"""Steering which requests a middleware samples for CPU time (gatewatch._cpu_sampling)."""

from __future__ import annotations

import random
from typing import TypeVar

from gatewatch._cpu_sampling import sample_gaps
from gatewatch.catalogue import CPU_SAMPLE_EVERY

M = TypeVar("M")


def sample_every_request(middleware: M) -> M:
    """``middleware`` (GatewatchWSGI, GatewatchASGI or the Django middleware) measures the CPU
    time of every request: for tests of what a sampled request records."""
    middleware._cpu_gap = sample_gaps(1)  # type: ignore[attr-defined]
    middleware._cpu_countdown = 1  # type: ignore[attr-defined]
    return middleware


def seeded_sampling(middleware: M, seed: int) -> M:
    """``middleware`` samples as it does in production, with its draws from a seeded generator
    (the first gap included): the same requests are sampled run after run."""
    middleware._cpu_gap = sample_gaps(CPU_SAMPLE_EVERY, random.Random(seed).random)  # type: ignore[attr-defined]
    middleware._cpu_countdown = middleware._cpu_gap()  # type: ignore[attr-defined]
    return middleware
