"""Write gatewatch's Grafana boards and Prometheus rules from the modules that declare them.

The boards (``grafana/boards/``, one module each, built with grafana-foundation-sdk) become
``grafana/dashboards/*.json``; the recording and alerting rules (``recording_rules.py``,
``alert_rules.py``) become ``grafana/rules/*.yml``. Every query in them comes from
``gatewatch/queries.py``, and every metric name from ``gatewatch/catalogue.py``. The written
files are what ships and what users import; these modules are where they are edited. Run from
a checkout with the ``dev`` extra installed, after a change::

    python grafana/generate.py          # rewrite the files
    python grafana/generate.py --check  # exit 1 when a file differs from what it would write

``tests/grafana/test_grafana_dashboards.py`` fails when the committed files and the generator differ.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def render() -> dict[str, str]:
    """Every generated file's path (relative to ``grafana/``) and its text."""
    # Imported here, not above: the boards need grafana-foundation-sdk, a development
    # dependency, and the installed package ships this module without it.
    from . import alert_rules, recording_rules
    from .boards import BOARDS
    from .boards._panels import render as render_board

    files = {f"dashboards/{name}": render_board(build()) for name, build in BOARDS.items()}
    for rules in (recording_rules, alert_rules):
        files[f"rules/{rules.FILE}"] = rules.text()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = HERE / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if args.check and stale:
        print("out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if not __package__:
        # `python grafana/generate.py`: run as the checkout's package module, so that the
        # relative imports above resolve.
        sys.path[0] = str(HERE.parent)
        sys.exit(importlib.import_module("grafana.generate").main())
    sys.exit(main())
