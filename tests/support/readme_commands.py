"""The README's shell commands, and how to run each as written in a bounded way: to the end,
as a server answering HTTP, or on a terminal until it shows it is working; whatever is started
is stopped by its PID (process group) and must be gone afterwards.

Used by tests/test_readme_commands.py, which decides which command runs how.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import shlex
import signal
import struct
import subprocess
import termios
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gatewatch.demo.servers import stop_group

_FENCE = re.compile(r"^```(\S*)\s*$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Command:
    """One command line of a ```sh block, as written (sh ignores its comment)."""

    line: int
    text: str

    @property
    def words(self) -> tuple[str, ...]:
        """Its words without the comment and without leading ``NAME=value`` assignments."""
        words = shlex.split(self.text, comments=True)
        while words and _ASSIGNMENT.match(words[0]):
            words.pop(0)
        return tuple(words)

    @property
    def program(self) -> str:
        """The program's name, whatever directory it is run from (``.venv/bin/uvicorn``: uvicorn)."""
        return PurePosixPath(self.words[0]).name if self.words else ""

    @property
    def bare(self) -> str:
        """The command without its comment, words joined by single spaces."""
        return " ".join(shlex.split(self.text, comments=True))


def fenced_blocks(text: str) -> Iterator[tuple[str, int, list[str]]]:
    """Every fenced block: its info string, the line number of its first line, its lines."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        start = index
        while index < len(lines) and lines[index].rstrip() != "```":
            index += 1
        yield opening.group(1), start + 1, lines[start:index]
        index += 1


def sh_blocks(text: str) -> list[list[Command]]:
    """The commands of every ```sh block, a line ending in a backslash joined to the next."""
    blocks = []
    for info, first, lines in fenced_blocks(text):
        if info != "sh":
            continue
        commands: list[Command] = []
        pending: tuple[int, str] | None = None
        for number, line in enumerate(lines, first):
            if pending is not None:
                start, text_so_far = pending
                line, number = text_so_far + "\n" + line, start
            if line.rstrip().endswith("\\"):
                pending = (number, line)
                continue
            pending = None
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(Command(number, line.strip()))
        blocks.append(commands)
    return blocks


def named_files(text: str) -> dict[str, list[str]]:
    """The ```python blocks whose first line names a file (``# myapp.py``), by that name."""
    found: dict[str, list[str]] = {}
    for info, _, lines in fenced_blocks(text):
        if info == "python" and lines and re.fullmatch(r"# [\w.-]+\.py", lines[0].strip()):
            found.setdefault(lines[0].strip()[2:], []).append("\n".join(lines) + "\n")
    return found


def run_to_end(
    command: Command, cwd: Path, env: Mapping[str, str], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", command.text],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def http_answer(port: int, path: str = "/") -> tuple[int, bytes] | None:
    """The status and body of a GET, or None when nothing answers HTTP there."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5.0) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError):
        return None


def _stop_group(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM to the process group the command runs in, SIGKILL if it outlives ``timeout``."""
    return stop_group(process, timeout)


def serve_until_answer(
    command: Command, cwd: Path, env: Mapping[str, str], port: int, log: Path, *, timeout: float = 90
) -> tuple[int, bytes]:
    """Start a server command, wait until it answers HTTP on ``port`` (the environment points it
    there), stop it by its process group; its status and body for ``/``."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["sh", "-c", command.text],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started: dict[int, str] = {}
    try:
        deadline = time.monotonic() + timeout
        while (answer := http_answer(port)) is None:
            assert process.poll() is None, f"exited with {process.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no answer on port {port} in {timeout} s:\n{log.read_text()}"
            time.sleep(0.2)
        started = descendants(process.pid)
    finally:
        _stop_group(process)
        left = wait_gone(started)
    assert not left, f"left running after SIGTERM: {left}"
    assert http_answer(port) is None, "still answering after it was stopped"
    return answer


def wait_gone(processes: Mapping[int, str], timeout: float = 30.0) -> dict[int, str]:
    """Wait for the processes to end; those still alive at ``timeout`` are killed and returned."""
    deadline = time.monotonic() + timeout
    left = dict(processes)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {pid: line for pid, line in left.items() if alive(pid)}
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` (Linux /proc), with its command line."""
    parent_of: dict[int, int] = {}
    command_of: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent_of[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        command_of[int(entry.name)] = command.strip()
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parent_of.items():
            if parent == current and child not in found:
                found[child] = command_of[child]
                frontier.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        # A zombie is gone for our purpose: it only waits for its parent to reap it.
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


class Terminal:
    """A command on a pseudo-terminal (40 x 140), as a user runs it; its output read as it
    comes, so that it never blocks on a full terminal."""

    def __init__(self, command: Command, cwd: Path, env: Mapping[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
        self.master = master
        self.output = b""
        self.process = subprocess.Popen(
            ["sh", "-c", command.text],
            cwd=cwd,
            env={**env, "TERM": "xterm-256color"},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)

    def _read(self, seconds: float) -> None:
        ready, _, _ = select.select([self.master], [], [], seconds)
        if ready:
            with contextlib.suppress(OSError):  # EIO: every writer is gone
                self.output += os.read(self.master, 1 << 16)

    def wait_for(self, done: Callable[[Terminal], bool], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done(self):
            assert self.process.poll() is None, (
                f"exited with {self.process.returncode} before {what}:\n{self.text()[-3000:]}"
            )
            assert time.monotonic() < deadline, f"not {what} in {timeout} s:\n{self.text()[-3000:]}"
            self._read(0.2)

    def text(self) -> str:
        return re.sub(r"\x1b\[[0-9;?<>=]*[A-Za-z]|\x1b[()][A-Z0-9]", "", self.output.decode(errors="replace"))

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM to its process group (as a closing terminal would), reading until it exits."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        code = _stop_group(self.process, timeout=5.0)
        os.close(self.master)
        return code
