"""Issue 30's targets, and how a run says whether it met them (one line per build and target).

The figures come from the parts that measure them (:mod:`bench.instructions`,
:mod:`bench.server_bench`); this module only holds the bounds, so that the tables and the
docs name the same ones.
"""

from __future__ import annotations

# Instructions in process: gatewatch's defaults add at most this share of what the floor adds.
INSTRUCTIONS_VS_FLOOR = 0.5
# Spans and metrics on: at most this share of OpenTelemetry contrib's ASGI middleware's overhead,
# and below its one-span configuration's.
SPANS_VS_CONTRIB = 0.5
# Under a real server, by requests/s and by CPU time per request, as a share of the bare app's.
UVICORN_SHARE = 0.80
GUNICORN_SHARE = 0.95


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def instructions_line(tag: str, interface: str, vs_floor: float) -> str:
    return (
        f"  [{tag}] {interface}: gatewatch's defaults add {vs_floor:.2f}x the floor's instructions "
        f"(target <= {INSTRUCTIONS_VS_FLOOR:.2f}x): {verdict(vs_floor <= INSTRUCTIONS_VS_FLOOR)}"
    )


def spans_line(tag: str, vs_contrib: float, vs_one_span: float) -> str:
    ok = vs_contrib <= SPANS_VS_CONTRIB and vs_one_span < 1
    return (
        f"  [{tag}] ASGI spans + metrics: {vs_contrib:.2f}x contrib's overhead "
        f"(target <= {SPANS_VS_CONTRIB:.2f}x), {vs_one_span:.2f}x its one-span middleware's "
        f"(target < 1.00x): {verdict(ok)}"
    )


def server_line(tag: str, server: str, by_rate: float, by_cpu: float, target: float) -> str:
    ok = by_rate >= target and by_cpu >= target
    return (
        f"  [{tag}] {server}: gatewatch keeps {by_rate:.0%} of bare by requests/s, {by_cpu:.0%} "
        f"by CPU per request (target >= {target:.0%} by both): {verdict(ok)}"
    )
