"""``gatewatch demo`` with scenarios: live in the dashboard on a terminal, or headless with a
JSON summary (``--headless --json``).

Both start the plan's two servers (:mod:`gatewatch.demo.run`) in a scratch directory of their
own, on free ports, and the scenarios' clients in a process of their own
(:mod:`gatewatch.demo.load`), and stop them all by PID (their process groups) on the way out,
whether the demo ends, is interrupted (Ctrl-C, SIGTERM) or fails; two demos at once share nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gatewatch.demo.load import LoadError, LoadProcess
from gatewatch.demo.plan import DemoPlan, plans_for
from gatewatch.demo.run import DemoError, _missing, _server, _tail, app_source, side_url
from gatewatch.demo.scenarios import (
    BLOCKING_SLEEP,
    LIVE_PATH,
    SCENARIOS,
    SLOW_SLEEP,
    Scenario,
    Side,
    fetch,
    interface_summary,
)
from gatewatch.demo.servers import ServerProcess, terminated_as_exit

if TYPE_CHECKING:
    from gatewatch_dashboard.sources import Source

MAX_DURATION = 600.0
INSTALL_DASHBOARD = "the live demo needs Textual: pip install 'gatewatch[dashboard]' (or pass --headless)"


def scenarios_of(plan: DemoPlan) -> tuple[Scenario, ...]:
    return SCENARIOS[plan.name]


@contextmanager
def running_servers(plan: DemoPlan, root: Path | None) -> Iterator[list[tuple[Side, ServerProcess]]]:
    """Both servers of ``plan``, started and answering; stopped (by PID) on the way out."""
    missing = sorted(name for name in plan.required if _missing(name))
    if missing:
        raise DemoError(f"the demo needs {', '.join(missing)}: pip install 'gatewatch[demo]'")
    source = app_source([plan], root)
    workdir = Path(tempfile.mkdtemp(prefix="gatewatch-demo-"))
    # The servers' HTTP live view answers only a token's bearer: one made up for this run.
    token = secrets.token_urlsafe(24)
    try:
        with terminated_as_exit(), ExitStack() as stack:
            started = []
            for spec in plan.sides:
                server = _server(spec, plan, source, workdir, live_token=token)
                try:
                    stack.enter_context(server)
                except (RuntimeError, TimeoutError) as exc:
                    raise DemoError(f"the {spec.label} server did not start: {exc}\n{_tail(server)}") from exc
                started.append((Side(spec.label, spec.interface, server.base_url, token), server))
            yield started
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _check(duration: float) -> None:
    if not 0 < duration <= MAX_DURATION:
        raise DemoError(f"--duration must be within (0, {MAX_DURATION:g}], got {duration:g}")


def run_headless_json(
    *, app: str, duration: float, root: Path | None = None, out: TextIO | None = None
) -> int:
    """Play the scenarios at both servers without a UI and print the summary as JSON."""
    out = out or sys.stdout
    _check(duration)
    try:
        plans = plans_for(app)
    except ValueError as exc:
        raise DemoError(str(exc)) from exc
    documents: list[dict[str, Any]] = []
    for plan in plans:
        with running_servers(plan, root) as servers:
            sides = [side for side, _ in servers]
            scenarios = scenarios_of(plan)
            with LoadProcess(plan.name, sides, duration / len(plans)) as load:
                try:
                    load.run()
                except LoadError as exc:
                    raise DemoError(str(exc)) from exc
            interfaces = {}
            for side, _server_process in servers:
                metrics, live = fetch(side.base_url, side.live_token)
                interfaces[side.interface] = interface_summary(side, metrics, live)
            documents.append(
                {
                    "plan": plan.name,
                    "duration": duration / len(plans),
                    "scenarios": [scenario.key for scenario in scenarios],
                    "slow_sleep": SLOW_SLEEP,
                    "blocking_sleep": BLOCKING_SLEEP,
                    "wsgi_workers": plan.wsgi_workers,
                    "servers": {
                        side.interface: {"pid": server.pid, "url": side.base_url} for side, server in servers
                    },
                    "interfaces": interfaces,
                }
            )
    result: Any = documents[0] if len(documents) == 1 else documents
    json.dump(result, out, indent=2)
    out.write("\n")
    ok = all(doc["interfaces"][name]["requests"] > 0 for doc in documents for name in doc["interfaces"])
    return 0 if ok else 1


def run_live(*, app: str, duration: float, root: Path | None = None) -> int:
    """Both servers, the dashboard on both live endpoints, and the scenarios played by a load
    process beside it, a panel naming the one running. Quit with q."""
    _check(duration)
    try:
        from gatewatch_dashboard.app import TopApp
    except ImportError:
        raise DemoError(INSTALL_DASHBOARD) from None
    try:
        plans = plans_for(app)
    except ValueError as exc:
        raise DemoError(str(exc)) from exc
    for plan in plans:
        with (
            running_servers(plan, root) as servers,
            demo_app(TopApp, plan, servers, duration / len(plans)) as session,
        ):
            session.top.run()
    return 0


@dataclass
class DemoSession:
    """The dashboard on the demo's servers, and the load it starts once it runs."""

    top: Any  # a gatewatch_dashboard.app.TopApp
    load: LoadProcess


@contextmanager
def demo_app(
    app_class: Any,
    plan: DemoPlan,
    servers: Sequence[tuple[Side, ServerProcess]],
    seconds: float,
    *,
    stepped: bool = False,
) -> Iterator[DemoSession]:
    """A TopApp (``app_class``) on ``servers`` that starts the plan's load when it runs; the load
    is stopped (by PID) on the way out, however the UI ended: q, an error, Ctrl-C or SIGTERM.
    ``stepped``: see :class:`LoadProcess` (the tests' way through the scenarios)."""
    top = app_class(dashboard_sources(servers))
    load = LoadProcess(plan.name, [side for side, _ in servers], seconds, stepped=stepped)
    announcer = _Announcer(top, load, plan.title)
    top.on_start = announcer.start_load
    try:
        yield DemoSession(top, load)
    finally:
        announcer.done.set()
        load.stop()


def dashboard_sources(servers: Sequence[tuple[Side, ServerProcess]]) -> list[Source]:
    """What the dashboard reads of each server: the live endpoint, but a WSGI server's workers
    through the side server its gunicorn's arbiter runs (or, without one, their snapshot files).
    A sync worker answering the live view over HTTP serves no request meanwhile, so the view it
    answers showed it idle however saturated the server (in slow I/O one of the two workers
    always read "0 / 1"), and the poll queued behind the slow requests (TimeoutError when both
    were busy)."""
    from gatewatch_dashboard.http_source import label_of
    from gatewatch_dashboard.sources import DirectorySource, LiveSource

    sources: list[Source] = []
    for side, server in servers:
        directory = server.env.get("PROMETHEUS_MULTIPROC_DIR")
        side_server = side_url(server)
        if side.interface == "wsgi" and side_server is not None:
            source = LiveSource(side_server + LIVE_PATH, token=side.live_token)
            source.name = label_of(side.base_url)
            sources.append(source)
        elif side.interface == "wsgi" and directory:
            sources.append(DirectorySource(directory, name=label_of(side.base_url)))
        else:
            sources.append(LiveSource(side.base_url + LIVE_PATH, token=side.live_token))
    return sources


class _Announcer(threading.Thread):
    """Starts the load process once the UI runs and puts each scenario's panel on screen as the
    load starts it. It only reads the child's lines: the clients run in the child."""

    def __init__(self, top: Any, load: LoadProcess, title: str) -> None:
        super().__init__(name="gatewatch-demo-announcer", daemon=True)
        self.top = top
        self.load = load
        self.title = title
        self.done = threading.Event()

    def announce(self, text: str) -> None:
        if not self.done.is_set():
            # The UI may be gone (quit early) by the time this runs: then nobody is watching.
            with contextlib.suppress(RuntimeError):
                self.top.call_from_thread(self.top.set_scenario, text)

    def start_load(self) -> None:
        """Once the UI runs (in its thread, so that the load is started before anything can
        stop it): the load process, and this thread reading it."""
        self.load.start()
        self.start()

    def run(self) -> None:
        try:
            for panel in self.load.panels():
                self.announce(panel)
            self.announce(f"{self.title}: every scenario played. The numbers stay; q quits.")
        except Exception as exc:  # noqa: BLE001 - shown in the panel, the UI stays up
            if not self.done.is_set():
                self.announce(f"the traffic stopped: {exc}")


def default_duration(live: bool) -> float:
    return 60.0 if live else 10.0


def on_terminal() -> bool:
    return sys.stdout.isatty() and sys.stdin.isatty() and os.environ.get("TERM") != "dumb"
