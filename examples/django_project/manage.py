#!/usr/bin/env python
"""``python examples/django_project/manage.py check``, from any directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _package() -> tuple[Path, str]:
    """Where this project's package tree starts and the project's dotted name: run as a script,
    the file has no ``__package__``, so climb while the directories are packages (this works
    for the checkout's ``examples.django_project``, the installed ``gatewatch.demo.apps...``
    and a copy of the project under any name)."""
    directory = Path(__file__).resolve().parent
    parts: list[str] = []
    while (directory / "__init__.py").is_file():
        parts.insert(0, directory.name)
        directory = directory.parent
    return directory, ".".join(parts)


def main() -> None:
    root, project = _package()
    sys.path.insert(0, str(root))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", f"{project}.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
