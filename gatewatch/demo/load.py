"""The demo's load, in a process of its own.

Played in a thread of the dashboard's process, the clients shared one interpreter (and its GIL)
with Textual's drawing: the slow I/O scenario's 16 clients kept only 2 to 4 requests in flight
while its panel promised 16. Here they run in ``python -m gatewatch.demo.load``, a child started
in a process group of its own (:class:`LoadProcess`) and stopped by PID when the demo ends, fails
or is interrupted; the child also stops by itself past its time bound or once its parent is gone.

The child tells the parent what happens as JSON lines on its stdout: ``{"scenario": panel}``
when a scenario starts, and ``{"sides": [...]}`` at the end (what its clients saw, per side).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, fields
from typing import IO, Any

from gatewatch.demo.scenarios import SCENARIOS, Side, play
from gatewatch.demo.servers import stop_group

# Past its duration the child gives its last requests this long, then stops anyway.
GRACE = 15.0
STOP_TIMEOUT = 5.0


class LoadError(RuntimeError):
    """The load process failed (its last lines of stderr say why)."""


class LoadProcess:
    """``with LoadProcess(plan, sides, duration) as load: for panel in load.panels(): ...``

    ``panels`` yields each scenario's panel as it starts; afterwards ``sides`` holds what the
    clients saw. Leaving the block stops the child (SIGTERM to its group, then SIGKILL).

    ``stepped``: each scenario runs until :meth:`next_scenario` is called (its share of
    ``duration`` only bounds it), so that a test moves on once it has seen what the panel says
    rather than sample a window of wall-clock time a busy machine can miss."""

    def __init__(self, plan: str, sides: Sequence[Side], duration: float, *, stepped: bool = False) -> None:
        self.plan = plan
        self.sides = list(sides)
        self.duration = duration
        self.stepped = stepped
        self.process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the load is not started")
        return self.process.pid

    def start(self) -> LoadProcess:
        order = {
            "plan": self.plan,
            "duration": self.duration,
            "sides": [_order(side) for side in self.sides],
            "stepped": self.stepped,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gatewatch.demo.load", json.dumps(order)],
            stdin=subprocess.PIPE if self.stepped else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        return self

    def panels(self) -> Iterator[str]:
        """Each scenario's panel as the child starts it, until the child ends; then the sides'
        client figures are in :attr:`sides`. LoadError if it failed."""
        process = self.process
        if process is None or process.stdout is None:
            raise RuntimeError("the load is not started")
        for line in process.stdout:
            event = json.loads(line)
            if "scenario" in event:
                yield str(event["scenario"])
            elif "sides" in event:
                for side, seen in zip(self.sides, event["sides"], strict=True):
                    for field in fields(Side):
                        setattr(side, field.name, seen[field.name])
        code = process.wait(timeout=self.duration + GRACE + STOP_TIMEOUT)
        if code != 0:
            said = process.stderr.read().strip().splitlines()[-3:] if process.stderr else []
            raise LoadError(f"the load process exited with {code}: {' '.join(said)}")

    def next_scenario(self) -> None:
        """Stepped: end the scenario playing now (the next one starts)."""
        process = self.process
        if process is None or process.stdin is None:
            raise RuntimeError("the load is not started stepped")
        with contextlib.suppress(BrokenPipeError):  # it has ended already
            process.stdin.write("\n")
            process.stdin.flush()

    def run(self) -> None:
        """Play every scenario to its end, without a UI."""
        for _ in self.panels():
            pass

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        stop_group(process, STOP_TIMEOUT)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                with contextlib.suppress(BrokenPipeError):  # stdin's buffer flushed to a gone child
                    stream.close()

    def __enter__(self) -> LoadProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _order(side: Side) -> dict[str, Any]:
    keys = ("label", "interface", "base_url", "live_token")
    return {key: getattr(side, key) for key in keys}


# -- the child ---------------------------------------------------------------------------------


def _say(out: IO[str], event: dict[str, Any]) -> None:
    out.write(json.dumps(event) + "\n")
    out.flush()


async def _orphaned(parent: int) -> None:
    """Returns once the parent is gone (the child is re-parented): nobody stops it otherwise."""
    while os.getppid() == parent:
        await asyncio.sleep(0.5)


async def _told() -> Callable[[], Awaitable[None]]:
    """Stepped: a wait for the parent's next line on stdin (or its end: the parent is done)."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def next_line() -> None:
        await reader.readline()

    return next_line


async def _main(order: dict[str, Any], out: IO[str]) -> None:
    scenarios = SCENARIOS[order["plan"]]
    duration = float(order["duration"])
    sides = [Side(**side) for side in order["sides"]]
    until = await _told() if order.get("stepped") else None
    playing = asyncio.ensure_future(
        play(
            sides,
            scenarios,
            duration=duration,
            announce=lambda text: _say(out, {"scenario": text}),
            until=until,
        )
    )
    orphaned = asyncio.ensure_future(_orphaned(os.getppid()))
    done, _ = await asyncio.wait({playing, orphaned}, timeout=duration + GRACE, return_when="FIRST_COMPLETED")
    for task in (playing, orphaned):
        task.cancel()
    await asyncio.gather(playing, orphaned, return_exceptions=True)
    if playing not in done:
        raise SystemExit("the load stopped before its end (over time, or its parent is gone)")
    playing.result()
    _say(out, {"sides": [asdict(side) for side in sides]})


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    # SIGTERM from the parent: unwind (closing the clients' connections) rather than die mid-write.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    asyncio.run(_main(json.loads(args[0]), sys.stdout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
