"""The ``gatewatch`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gatewatch.demo.plan import APP_CHOICES, STARLETTE_FLASK
from gatewatch.version import VERSION


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatewatch",
        description="See how WSGI and ASGI really behave: blocking time, concurrency and WebSockets.",
    )
    parser.add_argument("--version", action="version", version=f"gatewatch {VERSION}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run an ASGI and a WSGI server side by side (Starlette and Flask, or one Django "
        "project both ways) and compare them",
        description=(
            "Start an ASGI app under uvicorn and a WSGI app under gunicorn (2 sync workers) "
            "on 127.0.0.1, send both the same short burst of traffic, scrape their /metrics "
            "and print a comparison. The apps ship with gatewatch (install gatewatch[demo]); "
            "it runs from any directory and stops everything it started."
        ),
    )
    demo.add_argument(
        "--app",
        choices=APP_CHOICES,
        default=STARLETTE_FLASK.name,
        help="starlette-flask (default): gatewatch.demo.apps.starlette_app under uvicorn and "
        "gatewatch.demo.apps.flask_app under gunicorn; django: the gatewatch.demo.apps.django_project "
        "views under uvicorn (asgi.py, with Channels) and gunicorn (wsgi.py), with thread hand-offs "
        "and hops per route; all: both, one after the other",
    )
    demo.add_argument(
        "--seconds", type=float, default=4.0, help="how long to drive traffic at each server (default 4)"
    )
    demo.add_argument("--clients", type=int, default=10, help="concurrent clients (default 10)")
    demo.add_argument(
        "--root",
        type=Path,
        default=None,
        metavar="CHECKOUT",
        help="serve the apps in this gatewatch checkout's examples/ (with its gatewatch), for "
        "trying an edit, instead of the ones installed with gatewatch (default)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from gatewatch.demo.run import DemoError, run

        try:
            return run(app=args.app, seconds=args.seconds, clients=args.clients, root=args.root)
        except DemoError as exc:
            print(f"gatewatch demo: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
