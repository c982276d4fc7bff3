"""The server-level benchmark's samples and what it prints of them: the tables of shares of the
bare app's throughput and CPU per request, and issue 30's targets checked on them.

How the samples are taken, and why so: :mod:`bench.server_bench`.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench import targets
from bench.builds import Build
from bench.server_apps import ASGI_FLOOR, WSGI_FLOOR
from gatewatch.demo.text_table import text_table


@dataclass(frozen=True)
class Sample:
    """One wrk run against one contender."""

    rate: float
    cpu_us: float  # the server's CPU time per request
    probe: float  # the speed probe's seconds around the run: higher = a slower CPU


@dataclass
class Samples:
    """One contender's samples, one per round."""

    runs: list[Sample] = field(default_factory=list)

    @property
    def rates(self) -> list[float]:
        return [run.rate for run in self.runs]

    def cpu_us(self, reference_probe: float) -> list[float]:
        """CPU µs per request, each scaled to a CPU as fast as ``reference_probe`` says."""
        return [run.cpu_us * reference_probe / run.probe for run in self.runs]


@dataclass(frozen=True)
class Measurement:
    """One interface's samples, and the share of the measuring time other work wanted a CPU."""

    samples: dict[str, Samples]
    pressure: float | None

    @property
    def reference_probe(self) -> float:
        """The speed probe's median over the whole measurement: the run's typical CPU speed."""
        return statistics.median(run.probe for one in self.samples.values() for run in one.runs)


def _spread(values: Sequence[float]) -> str:
    """Interquartile range over the median: unlike max - min, one disturbed round does not
    widen it, just as it does not move the median it goes with."""
    if len(values) < 2:
        return "-"
    low, _, high = statistics.quantiles(values, n=4)
    return f"{(high - low) / statistics.median(values):.0%}"


_HEADER = (
    "case",
    "requests/s",
    "share of bare",
    "spread",
    "CPU µs/request",
    "share by CPU",
    "CPU spread",
    "rounds",
)


def shares(measurement: Measurement) -> dict[str, tuple[float, float]]:
    """Each contender's share of the first (bare) one's: by requests/s, and by CPU per request."""
    reference = measurement.reference_probe
    rates = {name: statistics.median(one.rates) for name, one in measurement.samples.items()}
    cpu = {name: statistics.median(one.cpu_us(reference)) for name, one in measurement.samples.items()}
    bare = next(iter(rates))
    return {name: (rates[name] / rates[bare], cpu[bare] / cpu[name]) for name in rates}


def throughput_table(title: str, measurement: Measurement) -> list[str]:
    """One row per contender; the first one is the bare app the shares are relative to."""
    reference = measurement.reference_probe
    bare = next(iter(measurement.samples))
    rows = []
    for name, (by_rate, by_cpu) in shares(measurement).items():
        rates, cpu = measurement.samples[name].rates, measurement.samples[name].cpu_us(reference)
        is_bare = name == bare
        rows.append(
            (
                name,
                f"{statistics.median(rates):,.0f}",
                "-" if is_bare else f"{by_rate:.0%}",
                _spread(rates),
                f"{statistics.median(cpu):,.1f}",
                "-" if is_bare else f"{by_cpu:.0%}",
                _spread(cpu),
                str(len(rates)),
            )
        )
    lines = [title, *text_table(_HEADER, rows)]
    if measurement.pressure is not None:
        # Tells a quiet run from a crowded one: the spreads grow with this.
        lines.append(
            f"  other work wanted a CPU {measurement.pressure:.0%} of the time (Linux PSI, cpu some)"
        )
    return lines


def server_targets(
    asgi: Measurement, wsgi: Measurement, builds: Sequence[Build], *, quick: bool = False
) -> list[str]:
    """Issue 30's server targets, per build: gatewatch's defaults against the bare app."""
    heading = "Targets (issue 30), under a real server (the floor beside them, for reference)"
    lines = [heading + (" [--quick: not a measurement]:" if quick else ":")]
    for measurement, server, target, floor in (
        (asgi, "uvicorn", targets.UVICORN_SHARE, ASGI_FLOOR),
        (wsgi, "gunicorn sync Flask", targets.GUNICORN_SHARE, WSGI_FLOOR),
    ):
        found = shares(measurement)
        for build in builds:
            lines.append(targets.server_line(build.tag, server, *found[f"gatewatch [{build.tag}]"], target))
        by_rate, by_cpu = found[floor]
        lines.append(f"  (the floor under {server}: {by_rate:.0%} by requests/s, {by_cpu:.0%} by CPU)")
    return lines
