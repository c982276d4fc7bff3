"""The two builds the benchmark compares: gatewatch's wheels, pure Python and mypyc-compiled.

Each run builds both wheels from the checkout (``pip wheel``, with ``GATEWATCH_MYPYC=1`` for the
compiled one) and installs each, with ``--no-deps``, into a venv of its own under
``build/bench/``: ``venv-pure`` and ``venv-compiled``. Those venvs are made without pip and
without the system's site-packages; a ``.pth`` file puts the bench's own venv's site-packages
*after* their own, so that the servers, the frameworks and the peers (uvicorn, Flask,
prometheus-client, OpenTelemetry, ...) are the very same files, at the very same versions, for
both builds and for the peers, and only gatewatch differs: its installed wheel comes first on
``sys.path``. The bench's venv's own ``.pth`` files are not run from there (Python reads
``.pth`` files only in site directories), so its editable install of the checkout stays out.

What is measured runs from ``build/bench/run/``, whose only entry is a link to the checkout's
``bench/`` package: a server or ``python -m`` puts its working directory first on
``sys.path``, and the checkout's own ``gatewatch/`` there would shadow the wheel (an in-place
compiled build would even pass for the compiled wheel). Every build is checked after it is
installed: gatewatch imported from its venv, compiled or not as its wheel says.

A build is reused while the sources it was built from are unchanged (a hash of the checkout's
files but the bench, tests and docs), so a second run, or ``--quick``, does not build again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "bench"
RUN_DIR = OUT / "run"
_KEY_FILE = ".bench-key"
# Files that do not go into the wheel and change often: no reason to build again for them.
_NOT_BUILT = ("bench/", "tests/", "docs/", "examples/", "grafana/", ".ci/")
_PROBE = """
import json, sys
import gatewatch
from bench.builds import is_compiled
print(json.dumps({"file": gatewatch.__file__, "compiled": is_compiled()}))
"""


def is_compiled() -> bool:
    """Whether the gatewatch this interpreter imports runs its hot modules compiled."""
    import importlib.machinery

    import gatewatch

    try:
        from gatewatch._build import compiled  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        # Before the build switch landed: compiled if any of its modules is an extension.
        package = Path(gatewatch.__file__).parent
        suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
        return any(path.name.endswith(suffixes) for path in package.rglob("*"))
    return bool(compiled())


@dataclass(frozen=True)
class Build:
    """One interpreter to measure gatewatch with: its python, the directory to run in, and
    what runs there (``compiled``: the hot modules are extension modules)."""

    name: str  # "pure", "compiled", or "checkout" (the bench's own interpreter, in place)
    python: str
    cwd: Path
    compiled: bool
    requested_compiled: bool

    @property
    def tag(self) -> str:
        """How the tables name this build; a compiled build that did not compile says so."""
        if self.requested_compiled and not self.compiled:
            return "MYPYC=1 wheel, yet pure"
        return self.name

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment to run this build's python in: nothing that adds the checkout."""
        env = dict(os.environ if base is None else base)
        for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH"):
            env.pop(name, None)
        return env

    def command(self, *args: str) -> list[str]:
        return [self.python, *args]


def checkout_build() -> Build:
    """The bench's own interpreter and the checkout, as ``python -m bench`` itself imports it."""
    probe = _probe(sys.executable, ROOT)
    return Build("checkout", sys.executable, ROOT, bool(probe["compiled"]), requested_compiled=False)


def _probe(python: str, cwd: Path) -> dict[str, object]:
    done = subprocess.run(
        [python, "-c", _PROBE],
        cwd=cwd,
        env=Build("", python, cwd, False, False).env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def source_key(compiled: bool) -> str | None:
    """A hash of what a wheel is built from; None outside a git checkout (then always build)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    digest = hashlib.sha256(f"{sys.version}|mypyc={compiled}".encode())
    for name in sorted(n for n in listed.decode().split("\0") if n and not n.startswith(_NOT_BUILT)):
        path = ROOT / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _site_packages(prefix: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))


def _wheel(compiled: bool, directory: Path, log: list[str]) -> Path:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    env = {**os.environ}
    env.pop("GATEWATCH_MYPYC", None)
    if compiled:
        env["GATEWATCH_MYPYC"] = "1"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q"]
    done = subprocess.run(
        [*command, "-w", str(directory), str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip wheel failed ({'compiled' if compiled else 'pure'}):\n{done.stderr[-4000:]}")
    (wheel,) = directory.glob("gatewatch-*.whl")
    extensions = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith((".so", ".pyd"))]
    log.append(f"  {wheel.name}: {len(extensions)} extension modules")
    return wheel


def _venv(name: str, wheel: Path) -> Path:
    """A venv with ``wheel`` installed and the bench's venv's site-packages after its own."""
    venv = OUT / f"venv-{name}"
    shutil.rmtree(venv, ignore_errors=True)
    # symlinks: the same interpreter binary as the bench's, nothing copied.
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--symlinks", str(venv)], check=True, timeout=300
    )
    own = _site_packages(venv)
    theirs = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (own / "_gatewatch_bench_deps.pth").write_text("".join(f"{path}\n" for path in sorted(theirs)))
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    subprocess.run(
        [*install, "--disable-pip-version-check", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return python


def _run_dir() -> Path:
    """A directory holding only a link to the checkout's ``bench`` package."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    link = RUN_DIR / "bench"
    if not link.is_symlink():
        link.symlink_to(ROOT / "bench", target_is_directory=True)
    return RUN_DIR


def _build(name: str, compiled: bool, log: list[str], *, rebuild: bool) -> Build:
    venv = OUT / f"venv-{name}"
    python = venv / "bin" / "python"
    key = source_key(compiled)
    stamp = venv / _KEY_FILE
    reused = not rebuild and key is not None and stamp.is_file() and stamp.read_text() == key
    if reused and python.exists():
        log.append(f"{name}: reused {venv.relative_to(ROOT)} (sources unchanged)")
    else:
        log.append(f"{name}: building the wheel{' with GATEWATCH_MYPYC=1' if compiled else ''}")
        python = _venv(name, _wheel(compiled, OUT / f"wheel-{name}", log))
        if key is not None:
            stamp.write_text(key)
    cwd = _run_dir()
    probe = _probe(str(python), cwd)
    installed = Path(str(probe["file"]))
    if not installed.is_relative_to(venv.resolve()) and not installed.is_relative_to(venv):
        raise RuntimeError(f"{name}: gatewatch imported from {installed}, not from {venv}")
    build = Build(name, str(python), cwd, bool(probe["compiled"]), requested_compiled=compiled)
    kind = "compiled" if build.compiled else "pure Python"
    log.append(f"{name}: gatewatch from {installed.parent}, {kind}")
    return build


def prepare(*, rebuild: bool = False) -> tuple[list[Build], list[str]]:
    """The pure and the compiled build, installed, and a log of what was done for them."""
    log: list[str] = []
    builds = [_build("pure", False, log, rebuild=rebuild)]
    if builds[0].compiled:
        raise RuntimeError("the pure wheel runs compiled modules: the build switch leaks")
    try:
        builds.append(_build("compiled", True, log, rebuild=rebuild))
    except (RuntimeError, subprocess.SubprocessError) as error:
        # The compiled build is an optimisation, never a requirement (no compiler, no mypy
        # here): the run goes on with the pure build alone, and says why.
        log += ["compiled: NOT BUILT, the run measures the pure build only:", *_cause(str(error))]
    return builds, log


def _cause(output: str) -> list[str]:
    """The lines of a failed build that name the error (pip's own frame lines say nothing)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    named = [line for line in lines if "Error" in line and "subprocess-exited-with-error" not in line]
    return [f"  {line}" for line in (named or lines)[-6:]]


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.builds", description=__doc__)
    parser.add_argument("--rebuild", action="store_true", help="build even if the sources are unchanged")
    args = parser.parse_args(argv)
    _, log = prepare(rebuild=args.rebuild)
    print("\n".join(log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
