"""``gatewatch demo --app django``: the per-route table and the sentences for one Django
project served as ASGI (uvicorn, Channels) and as WSGI (gunicorn).

The same views run under both interfaces, so every difference in the numbers comes from
the interface and from how Django bridges sync and async code under each: under ASGI it
hands sync code (sync views, sync middleware hooks, signal receivers) to threads through
asgiref's ``sync_to_async``; under WSGI it runs an async view through ``async_to_sync``.
"""

from __future__ import annotations

from collections.abc import Sequence

from gatewatch.demo.report import Result, RouteTable, hops, ms, ms_fine, share
from gatewatch.export.prometheus.scrape_summary import RouteSummary

# Sync and async twins, so the table puts the same work under both kinds of view.
ENDPOINTS: tuple[str, ...] = (
    "/sync/",
    "/async/",
    "/slow-sync/?seconds=0.05",
    "/slow-async/?seconds=0.05",
    "/blocking-async/?seconds=0.02",
    "/items/42/",
    "/stream/?chunks=5",
    "/error/",
    "/health/",
)

FOOTNOTE = (
    "The readiness probe and the scrapes (/metrics, served by gatewatch.integrations.django.urls) are not "
    "recorded. A request ends with its last byte: closing the response afterwards (Django does "
    "that in a thread) is after-response time, not offload, duration or concurrency."
)


def route_table(results: Sequence[Result]) -> RouteTable:
    """One row per route and interface, the interfaces of a route on adjacent rows."""
    rows: list[list[str]] = []
    for route in sorted({route for r in results for route in r.routes}):
        kinds = {r.routes[route].view_kind for r in results if route in r.routes}
        kind = "/".join(sorted(k for k in kinds if k is not None)) or "-"
        for index, result in enumerate(results):
            lead = [route, kind] if index == 0 else ["", ""]
            summary = result.routes.get(route)
            if summary is None:
                rows.append([*lead, result.label, "-", "-", "-", "-", "-"])
                continue
            rows.append(
                [
                    *lead,
                    result.label,
                    ms(summary.duration_mean),
                    ms(summary.blocking_mean),
                    ms(summary.cpu_mean),
                    ms_fine(summary.offload_mean),
                    hops(summary.hops_mean),
                ]
            )
    return RouteTable(
        caption=(
            "Per route, mean per request: dur = duration, held = time holding the loop (ASGI) or the\n"
            "worker (WSGI), cpu = CPU time of the loop or worker thread, offload = time waiting on\n"
            "sync_to_async threads, hops = crossings between the loop and threads (both directions)"
        ),
        header=["route", "view", "", "dur", "held", "cpu", "offload", "hops"],
        rows=rows,
    )


def explain(results: Sequence[Result], *, endpoints: int, wsgi_workers: int) -> list[str]:
    """Sentences with this run's numbers; each one only when the routes it reads were served
    and the numbers bear it out."""
    by_label = {r.label: r for r in results}
    asgi, wsgi = by_label.get("ASGI"), by_label.get("WSGI")
    notes: list[str] = []
    if asgi is not None and wsgi is not None:
        notes.extend(_same_sync_view(asgi, wsgi))
    if asgi is not None:
        notes.extend(_blocking_async(asgi))
        notes.extend(_hops_under_asgi(asgi))
        if wsgi is not None:
            notes.extend(_busy_loop(asgi, wsgi))
    if wsgi is not None:
        notes.extend(_async_under_wsgi(wsgi))
        notes.extend(_listen_queue(wsgi, wsgi_workers))
    if asgi is not None and wsgi is not None:
        notes.append(
            f"With the same {endpoints}-endpoint mix, one event loop (and Django's threads) "
            f"served {asgi.client.throughput:,.0f} req/s and {wsgi_workers} sync workers "
            f"{wsgi.client.throughput:,.0f} req/s."
        )
    return notes


def _same_sync_view(asgi: Result, wsgi: Result) -> list[str]:
    a, w = asgi.routes.get("/slow-sync/"), wsgi.routes.get("/slow-sync/")
    if a is None or w is None:
        return []
    note = (
        f"The same sync view, /slow-sync/ (time.sleep(0.05)), under WSGI held its worker for "
        f"{ms(w.blocking_mean)}, {share(w)} of its duration"
    )
    if w.offload_mean == 0:
        note += f", and handed nothing to threads (offload 0 ms, {hops(w.hops_mean)} hops)."
    else:
        note += f" (offload {ms_fine(w.offload_mean)}, {hops(w.hops_mean)} hops)."
    if a.offload_mean and a.hops_mean:
        note += (
            f" Under ASGI Django ran it in a thread: the request waited {ms_fine(a.offload_mean)} "
            f"on threads over {hops(a.hops_mean)} hops"
        )
        if _mostly_free(a):
            note += (
                f", while the event loop was held for only {ms(a.blocking_mean)} of its "
                f"{ms(a.duration_mean)} and served other requests meanwhile"
            )
        else:
            note += f", and the loop was still held for {ms(a.blocking_mean)} of its {ms(a.duration_mean)}"
        note += "."
    return [note]


def _blocking_async(asgi: Result) -> list[str]:
    blocking, slow = asgi.routes.get("/blocking-async/"), asgi.routes.get("/slow-async/")
    if blocking is None or not blocking.blocking_mean:
        return []
    note = (
        f"/blocking-async/ calls time.sleep(0.02) inside an async view: under ASGI it held the "
        f"event loop for {ms(blocking.blocking_mean)} per request, and nothing else on the loop "
        f"could run meanwhile"
    )
    if slow is not None and slow.blocking_mean is not None and slow.blocking_mean < blocking.blocking_mean:
        note += (
            f"; /slow-async/ awaits asyncio.sleep(0.05) instead and held the loop for only "
            f"{ms(slow.blocking_mean)} of its {ms(slow.duration_mean)}"
        )
    return [note + "."]


def _hops_under_asgi(asgi: Result) -> list[str]:
    sync, async_ = asgi.routes.get("/sync/"), asgi.routes.get("/async/")
    if async_ is None or not async_.hops_mean:
        return []
    note = (
        f"Under ASGI even an async view crosses to threads: /async/ made {hops(async_.hops_mean)} "
        f"hops per request, for Django's own sync pieces (request_started receivers, "
        f"CommonMiddleware's sync hooks, closing the response)"
    )
    if sync is None or sync.hops_mean is None:
        return [note + "."]
    note += f"; the sync view /sync/ made {hops(sync.hops_mean)}"
    error = asgi.routes.get("/error/")
    if error is not None and error.hops_mean is not None and error.hops_mean > sync.hops_mean:
        note += f", and /error/, whose exception is handled in threads too, {hops(error.hops_mean)}"
    return [note + "."]


def _busy_loop(asgi: Result, wsgi: Result) -> list[str]:
    """Why a 1 ms view takes far longer under ASGI: each hop's result waits for the loop."""
    a, w = asgi.routes.get("/sync/"), wsgi.routes.get("/sync/")
    seconds = asgi.client.seconds
    if a is None or w is None or not a.offload_mean or seconds <= 0:
        return []
    queue, of_all = a.offload_queue_mean, ""
    if queue is None:
        # A route's queue time is its own with series="full" only: the mean of all routes then.
        summary = asgi.summary
        queue = summary.offload_queue_total / summary.offload_count if summary.offload_count else 0.0
        of_all = " (the mean of all routes)"
    if queue >= a.offload_mean / 2:
        # Then the threads themselves were the bottleneck, which this sentence is not about.
        return []
    held = asgi.summary.blocking_total
    blocking = asgi.routes.get("/blocking-async/")
    by_blocking = ""
    if blocking is not None and blocking.blocking_mean is not None:
        by_blocking = f", {blocking.blocking_mean * blocking.requests:.2f} s of it by /blocking-async/"
    return [
        f"/sync/ took {ms(w.duration_mean)} under WSGI and {ms(a.duration_mean)} under ASGI, "
        f"where the request waited {ms_fine(a.offload_mean)} on threads, only {ms_fine(queue)} "
        f"of it for a free thread{of_all}. The rest is the work itself and each result waiting for the "
        f"loop, busy with other requests, to resume this one: the loop was held for "
        f"{held:.2f} s of the {seconds:.1f} s run "
        f"({min(held / seconds, 1.0):.0%}{by_blocking})."
    ]


def _async_under_wsgi(wsgi: Result) -> list[str]:
    async_, sync = wsgi.routes.get("/async/"), wsgi.routes.get("/sync/")
    slow = wsgi.routes.get("/slow-async/")
    if async_ is None or not async_.hops_mean:
        return []
    note = (
        f"Under WSGI it is the other way round: Django runs each async view through "
        f"async_to_sync: /async/ made {hops(async_.hops_mean)} hops per request"
    )
    if sync is not None and sync.hops_mean is not None:
        note += f" against {hops(sync.hops_mean)} for /sync/"
    if slow is not None:
        note += (
            f"; and awaiting does not free the worker: /slow-async/ held it for "
            f"{ms(slow.blocking_mean)}, {share(slow)} of its duration"
        )
    return [note + "."]


def _listen_queue(wsgi: Result, wsgi_workers: int) -> list[str]:
    concurrency = wsgi.summary.concurrency_mean
    server, client = wsgi.summary.duration_p50, wsgi.client.latency_quantile(0.5)
    if concurrency is None or server is None or client is None or client <= server:
        return []
    return [
        f"A sync worker serves one request at a time (mean concurrency at arrival "
        f"{concurrency:.2f} per process); with {wsgi_workers} workers the other clients wait in "
        f"the listen queue, which the server cannot see but the clients do: server p50 "
        f"{ms(server)}, client p50 {ms(client)}."
    ]


def _mostly_free(route: RouteSummary) -> bool:
    """The loop was held for under half of the request's duration."""
    if route.blocking_mean is None or not route.duration_mean:
        return False
    return route.blocking_mean < route.duration_mean / 2
