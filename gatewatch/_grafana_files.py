"""The Grafana boards, their provisioning and the Prometheus rules that ship inside gatewatch,
and ``gatewatch export-grafana``, which writes them into a directory.

They are the repository's ``grafana/`` directory, shipped as the package ``gatewatch.grafana``,
so a pip install carries the same files a checkout has, laid out the same way.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

PACKAGE = "gatewatch.grafana"
# What ships, relative to the package: pyproject.toml's package-data for gatewatch.grafana
# lists the same globs (tests/test_packaging.py checks both against the wheel). Not the
# generator nor docker-compose.yml: those need a checkout.
PATTERNS = (
    "dashboards/*.json",
    "provisioning/*/*.yml",
    "prometheus.yml",
    "rules/*.yml",
    "rules/tests/*.yml",
)


class ExportError(Exception):
    """Nothing was written; the message says why in one line."""


def _shipped(relative: PurePosixPath) -> bool:
    # PurePath.match anchors at the right only: the part counts must agree too.
    return any(
        len(relative.parts) == len(PurePosixPath(pattern).parts) and relative.match(pattern)
        for pattern in PATTERNS
    )


def shipped_files() -> dict[str, Traversable]:
    """Every shipped file by its path relative to the package, sorted."""
    found: dict[str, Traversable] = {}
    pending: list[tuple[Traversable, PurePosixPath]] = [(files(PACKAGE), PurePosixPath())]
    while pending:
        directory, prefix = pending.pop()
        for child in directory.iterdir():
            relative = prefix / child.name
            if child.is_dir():
                pending.append((child, relative))
            elif _shipped(relative):
                found[relative.as_posix()] = child
    return dict(sorted(found.items()))


def export(directory: Path, *, force: bool = False) -> list[Path]:
    """Write every shipped file under ``directory`` (created if need be), in the package's
    layout. Without ``force``, nothing is written when any of them exists already."""
    sources = shipped_files()
    if not sources:
        raise ExportError(f"no Grafana files in the installed {PACKAGE}: reinstall gatewatch")
    if directory.exists() and not directory.is_dir():
        raise ExportError(f"{directory} is not a directory")
    targets = {directory / name: source for name, source in sources.items()}
    if not force:
        existing = [path for path in targets if path.exists() or path.is_symlink()]
        if existing:
            raise ExportError(
                f"{existing[0]} exists ({len(existing)} of the {len(targets)} files would be "
                "replaced); pass --force to overwrite them"
            )
    for path, source in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source.read_bytes())
    return list(targets)
