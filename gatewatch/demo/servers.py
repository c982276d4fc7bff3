"""Run a real web server as a child process on loopback, bounded in time, stopped by PID.

Used by ``gatewatch demo`` and by the test suite: both start uvicorn, gunicorn or
hypercorn on 127.0.0.1 with a free port and must never leave one running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType

LOOPBACK = "127.0.0.1"


def stop_group(process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float) -> int:
    """SIGTERM to the process group ``process`` leads, SIGKILL if it outlives ``timeout``; its
    exit status."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
    return process.returncode


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _quiet(server: str, *args: str) -> list[str]:
    # Each server started as a module of this interpreter, saying only warnings and errors.
    return [sys.executable, "-m", server, *args, "--log-level", "warning"]


def uvicorn_command(app: str, port: int, *extra: str) -> list[str]:
    return [*_quiet("uvicorn", app, "--host", LOOPBACK, "--port", str(port)), *extra]


def gunicorn_command(app: str, port: int, *extra: str) -> list[str]:
    return [*_quiet("gunicorn", app, "--bind", f"{LOOPBACK}:{port}"), *extra]


def granian_command(app: str, port: int, *extra: str, interface: str = "asgi") -> list[str]:
    # granian takes the application last.
    args = ("--interface", interface, "--host", LOOPBACK, "--port", str(port))
    return [*_quiet("granian", *args), *extra, app]


def hypercorn_command(app: str, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hypercorn", app, "--bind", f"{LOOPBACK}:{port}", *extra]


class ServerProcess:
    """``with ServerProcess(cmd, port=p) as server:`` starts, waits until it answers, stops.

    The server runs in its own process group so that stopping it also stops its
    workers (gunicorn forks); it gets SIGTERM, then SIGKILL after ``stop_timeout``.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        port: int,
        ready_path: str = "/",
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        start_timeout: float = 20.0,
        stop_timeout: float = 10.0,
        log_path: str | Path | None = None,
    ) -> None:
        self.command = list(command)
        self.port = port
        self.ready_path = ready_path
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.log_path = Path(log_path) if log_path is not None else None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("server not started")
        return self.process.pid

    def start(self) -> ServerProcess:
        log = open(self.log_path, "wb") if self.log_path is not None else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT if self.log_path is not None else subprocess.DEVNULL,
            start_new_session=True,
        )
        if log is not subprocess.DEVNULL:
            log.close()  # type: ignore[union-attr]
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        url = self.base_url + self.ready_path
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.command}")
            try:
                # Connected, the probe waits for the answer as long as the start may take: a server
                # that accepts before its worker has booted (gunicorn's arbiter) can take more than
                # a second on a loaded machine, and a probe that gave up would be one more request
                # and a client disconnect in what the server counts.
                with urllib.request.urlopen(url, timeout=max(0.1, deadline - time.monotonic())) as response:
                    response.read()
                    return
            except urllib.error.HTTPError:
                return  # it answered; a 404 on the ready path still means it is up
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise TimeoutError(f"server did not answer {url} within {self.start_timeout}s")

    def stop(self) -> int | None:
        return None if self.process is None else stop_group(self.process, self.stop_timeout)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def terminated_as_exit() -> Iterator[None]:
    """SIGTERM and SIGHUP (the terminal closed) unwind like Ctrl-C, so that every server started
    is stopped on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
