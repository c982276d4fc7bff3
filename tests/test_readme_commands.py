"""Every command in the ```sh blocks of the README and of the docs site's pages runs as written.

Each block runs in order, as a user types it: commands for a pip user in a project directory
whose ``.venv`` is a fresh environment with the wheel built from this checkout (its bin first
on PATH, as if activated), commands naming the checkout's ``examples`` (or ``make``) in the
checkout. How each runs, by its program:

- ``pip install ...``: against the local wheel, offline (``PIP_NO_INDEX``, ``PIP_FIND_LINKS``):
  every requirement and extra it names must be satisfied by the wheel;
- ``python3 -m venv DIR``: in a scratch directory;
- servers (uvicorn, gunicorn): the pages' ``myapp.py``/``gunicorn.conf.py`` written beside
  them, a free port given through the environment (``UVICORN_PORT``, ``GUNICORN_CMD_ARGS``),
  started, checked to answer HTTP, stopped by PID;
- ``gatewatch top`` and ``gatewatch demo`` on a pseudo-terminal until they show they work (top
  draws its first source; the demo's servers answer), then SIGTERM, and nothing left running;
- ``promtool`` and ``gatewatch export-grafana``: to the end, exit status 0.

Anything else fails the test until it is given a runner here or listed in
:data:`NOT_RUN_AS_WRITTEN` with the reason.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.installed import user_environment
from tests.support.promtool import promtool_path
from tests.support.readme_commands import (
    Command,
    Terminal,
    descendants,
    fenced_blocks,
    http_answer,
    named_files,
    run_to_end,
    serve_until_answer,
    sh_blocks,
    wait_gone,
)
from tests.support.top_stand_ins import top_sources
from tests.support.traffic import ROOT

# The front page, then the site's pages: snippets moved to the docs stay real, tested code.
PAGES = {
    path.relative_to(ROOT).as_posix(): path.read_text()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
}
BLOCKS = [(page, block) for page, text in PAGES.items() for block in sh_blocks(text)]
# The files the pages name (``# myapp.py``), from every page: a command may serve a file shown
# on another page (the README's gunicorn line and docs/gunicorn.md's gunicorn.conf.py).
FILES: dict[str, list[str]] = {}
for _text in PAGES.values():
    for _name, _versions in named_files(_text).items():
        FILES.setdefault(_name, []).extend(_versions)

# The only commands not run as written: what runs instead, and why. Exact text, so a new one
# fails until it is listed.
NOT_RUN_AS_WRITTEN: dict[str, tuple[list[str], str]] = {
    "make test": (["make", "-n", "test"], "it runs this test suite, this test included"),
    "make docs": (
        ["make", "-n", "docs"],
        "tests/test_docs_site.py builds the site the same way (--strict), into a scratch directory",
    ),
    "make test-minimal": (
        ["make", "-n", "test-minimal"],
        "CI runs it after make test (.ci/run); it runs this suite again, in a venv of its own",
    ),
    "make test-pure": (
        ["make", "-n", "test-pure"],
        "CI runs it after make test (.ci/run); it removes the compiled modules this run may be testing",
    ),
    "make wheels": (
        ["make", "-n", "wheels"],
        "it compiles the request path (minutes of a C compiler); tests/test_packaging.py builds, installs "
        "and runs the pure wheel",
    ),
    "make bench": (
        ["make", "-n", "bench"],
        "about 18 minutes of valgrind, wrk and uvicorn; the suite checks the bench's apps and command lines "
        "answer (tests/test_bench.py)",
    ),
    "make demo": (
        ["make", "-n", "demo"],
        "its recipe is `gatewatch demo`, which the demo block runs (tests/test_packaging.py runs "
        "the whole report from a fresh install)",
    ),
}
SERVERS = {"uvicorn", "gunicorn"}
RUN_TO_END = {"promtool", "gatewatch export-grafana", "gatewatch --version"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Context:
    """Where the pages' commands run: the project directory of a pip user and the checkout."""

    project: Path
    scratch: Path
    venv: Path
    wheel: Path
    user_env: dict[str, str]
    checkout_env: dict[str, str]
    # A command written twice (the install and the quick start serve myapp alike) runs once.
    ran: set[tuple[str, bool]] = field(default_factory=set)

    def in_checkout(self, command: Command) -> bool:
        return command.program == "make" or any(word.startswith("examples") for word in command.words)

    def place(self, command: Command) -> tuple[Path, dict[str, str]]:
        if self.in_checkout(command):
            assert (ROOT / ".venv" / "bin").is_dir(), (
                "the checkout's commands need .venv (make test makes it)"
            )
            return ROOT, dict(self.checkout_env)
        return self.project, dict(self.user_env)


@pytest.fixture(scope="module")
def context(installed_venv: Path, wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Context:
    project = tmp_path_factory.mktemp("project")
    (project / ".venv").symlink_to(installed_venv, target_is_directory=True)
    return Context(
        project=project,
        scratch=tmp_path_factory.mktemp("scratch"),
        venv=installed_venv,
        wheel=wheel,
        user_env=user_environment(installed_venv),
        checkout_env=user_environment(),
    )


def run_pip(command: Command, context: Context) -> None:
    cwd, env = context.place(command)
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(context.wheel.parent), PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = run_to_end(command, cwd, env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "does not provide the extra" not in output, output
    assert "gatewatch" in output, output


def run_venv(command: Command, context: Context) -> None:
    # Its own directory: the project's .venv is the installed environment, not to be replaced.
    cwd = context.scratch / f"venv-{command.line}"
    cwd.mkdir()
    done = run_to_end(command, cwd, context.user_env, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (cwd / command.words[-1] / "bin" / "python").exists()


def _page_file(name: str, program: str) -> str:
    """The pages' file of that name; of two (myapp.py), the one for this server's interface."""
    versions = FILES[name]
    if len(versions) == 1:
        return versions[0]
    wrapper = "GatewatchASGI" if program == "uvicorn" else "GatewatchWSGI"
    (chosen,) = [text for text in versions if wrapper in text]
    return chosen


def run_server(command: Command, context: Context) -> None:
    cwd, env = context.place(command)
    used = [
        name
        for name in FILES
        if any(word == name or word.split(":")[0] == name.removesuffix(".py") for word in command.words)
    ]
    for name in used:
        (cwd / name).write_text(_page_file(name, command.program))
    port = _free_port()
    env["UVICORN_PORT"] = str(port)
    env["GUNICORN_CMD_ARGS"] = f"--bind 127.0.0.1:{port}"
    status, body = serve_until_answer(command, cwd, env, port, context.scratch / f"server-{command.line}.log")
    assert status < 500, (status, body)
    if "myapp.py" in used:
        assert (status, body) == (200, b"hello\n")


def run_top(command: Command, context: Context) -> None:
    """Each source the command names served for real (tests/support/top_stand_ins.py), and top
    must draw its dashboard (its tabs, each URL's source named) and still run: its one-line
    error names the source too, so naming it alone proves nothing."""
    cwd, env = context.place(command)
    with top_sources(command, context.scratch) as sources:
        terminal = Terminal(sources.command, cwd, {**env, **sources.env})
        try:
            terminal.wait_for(
                lambda t: "1 Overview" in t.text() and all(shown in t.text() for shown in sources.shown),
                timeout=60,
                what=f"its dashboard on {sources.shown or 'its sources'}",
            )
            assert terminal.process.poll() is None, terminal.text()[-3000:]
        finally:
            terminal.stop()


def _demo_answers(terminal: Terminal) -> bool:
    servers = descendants(terminal.process.pid).values()
    ports = {port for line in servers for port in _ports(line)}
    return any(http_answer(port) is not None for port in ports)


def _ports(command_line: str) -> list[int]:
    """The ports a demo server was told to bind (uvicorn's --port, gunicorn's --bind)."""
    return [int(a or b) for a, b in re.findall(r"--port (\d+)|--bind 127\.0\.0\.1:(\d+)", command_line)]


def run_demo(command: Command, context: Context) -> None:
    cwd, env = context.place(command)
    terminal = Terminal(command, cwd, env)
    started: dict[int, str] = {}
    try:
        terminal.wait_for(_demo_answers, timeout=90, what="serving")
        started = descendants(terminal.process.pid)
    finally:
        terminal.stop()
    # The demo stops its servers (in process groups of their own) when it is told to stop.
    left = wait_gone(started)
    assert not left, f"left running after SIGTERM: {left}"


def run_plain(command: Command, context: Context) -> None:
    cwd, env = context.place(command)
    done = run_to_end(command, cwd, env)
    assert done.returncode == 0, done.stdout + done.stderr


def run_instead(command: Command, context: Context) -> None:
    instead, _reason = NOT_RUN_AS_WRITTEN[command.bare]
    done = run_to_end(Command(command.line, " ".join(instead)), ROOT, context.checkout_env)
    assert done.returncode == 0 and done.stdout.strip(), done.stdout + done.stderr


Runner = Callable[[Command, Context], None]


def runner_for(command: Command, page: str = "README.md") -> Runner:
    words = command.words
    subcommand = f"{command.program} {words[1]}" if len(words) > 1 else command.program
    if command.bare in NOT_RUN_AS_WRITTEN:
        return run_instead
    if command.program in {"pip", "pip3"} and subcommand.endswith(" install"):
        return run_pip
    if command.program in {"python", "python3"} and words[1:3] == ("-m", "venv"):
        return run_venv
    if command.program in SERVERS:
        return run_server
    if subcommand == "gatewatch top":
        return run_top
    if subcommand == "gatewatch demo":
        return run_demo
    if command.program in RUN_TO_END or subcommand in RUN_TO_END:
        return run_plain
    raise LookupError(
        f"{page}:{command.line}: no way to run `{command.text}` here: give it a runner in "
        "tests/test_readme_commands.py, or list it in NOT_RUN_AS_WRITTEN with the reason"
    )


def test_every_shell_block_is_sh() -> None:
    """Only ```sh blocks are run: a shell block fenced otherwise would escape the test."""
    other = [
        (page, first, info)
        for page, text in PAGES.items()
        for info, first, _ in fenced_blocks(text)
        if info in {"bash", "shell", "console", "zsh", "shell-session", "sh-session"}
    ]
    assert not other, f"fence these as ```sh: {other}"
    assert len(BLOCKS) >= 5 and all(block for _, block in BLOCKS), BLOCKS


def test_every_command_has_a_runner() -> None:
    unknown = []
    for page, block in BLOCKS:
        for command in block:
            try:
                runner_for(command, page)
            except LookupError as error:
                unknown.append(str(error))
    assert not unknown, "\n".join(unknown)
    # Not a blanket pass: a command nobody classified is refused.
    with pytest.raises(LookupError, match="no way to run `curl -s localhost:8000`"):
        runner_for(Command(1, "curl -s localhost:8000"))
    with pytest.raises(LookupError):
        runner_for(Command(1, "make clean"))


def test_the_docs_run_the_rules_they_ship() -> None:
    """The command of issue 26 that exited 1 is in a block, so it runs below."""
    commands = [command.bare for _, block in BLOCKS for command in block]
    assert "promtool check rules grafana/rules/gatewatch-*.yml" in commands
    assert any(text.startswith("gatewatch export-grafana ") for text in commands)


def _block_id(page_block: tuple[str, list[Command]]) -> str:
    page, block = page_block
    return f"{page}:{block[0].line}"


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.parametrize("page_block", BLOCKS, ids=[_block_id(page_block) for page_block in BLOCKS])
def test_block_runs_as_written(page_block: tuple[str, list[Command]], context: Context) -> None:
    page, block = page_block
    if any(command.program == "promtool" for command in block):
        promtool_path(required=True)
    for command in block:
        runner = runner_for(command, page)
        key = (command.bare, context.in_checkout(command))
        if key in context.ran:
            continue
        context.ran.add(key)
        try:
            runner(command, context)
        except AssertionError as error:
            raise AssertionError(f"{page}:{command.line}: `{command.text}`\n{error}") from None
