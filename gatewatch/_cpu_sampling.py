"""Which requests have their CPU time measured: each one on its own, with probability 1/N.

``thread_time()`` is a system call, so CPU time is measured on one request in
:data:`~gatewatch.catalogue.CPU_SAMPLE_EVERY`. A fixed countdown (every Nth request) aliases
with periodic traffic: two routes alternating under a countdown of 8 put every sample on
one route and none on the other, and it always took a process's first request, the cold one.

Here the gap to the next sampled request is drawn when one is sampled, from the geometric
distribution. The gaps between successes of independent Bernoulli(1/N) trials are exactly
that, so the requests sampled are the same as tossing a 1/N coin for each request: whatever
the order of the traffic, each request of each route is sampled with probability 1/N, the
first one too. A request not sampled pays one decrement and one comparison, as under the
countdown; only a sampled one (1 in N) pays for the draw.
"""

from __future__ import annotations

from collections.abc import Callable
from math import log
from random import random


def sample_gaps(every: int, draw: Callable[[], float] | None = None) -> Callable[[], int]:
    """A function that returns how many requests from here to the next one sampled (1: the
    next one), each request being sampled with probability ``1 / every``.

    ``draw`` is the uniform generator on [0, 1): ``random.random`` by default, which CPython
    reseeds in each child after a fork, so gunicorn's workers (even with ``--preload``) draw
    different gaps. (A closure: cheaper to call than an object's ``__call__``.)
    """
    if every < 1:
        raise ValueError(f"a CPU sample rate must be 1 in at least 1 request, got 1 in {every}")
    if every == 1:
        return lambda: 1
    # log of the probability that a request is not sampled.
    log_keep = log(1.0 - 1.0 / every)
    uniform = random if draw is None else draw

    def gap() -> int:
        # Inverse transform: 1 - uniform() lies in (0, 1], so the log is defined and the gap
        # at least 1; P(gap = k) = (1 - p) ** (k - 1) * p.
        return 1 + int(log(1.0 - uniform()) / log_keep)

    return gap
