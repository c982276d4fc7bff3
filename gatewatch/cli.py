"""The ``gatewatch`` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gatewatch._build import build_name
from gatewatch.demo.plan import APP_CHOICES, STARLETTE_FLASK
from gatewatch.export.live.local_dir import local_roots, server_dirs
from gatewatch.version import VERSION


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatewatch",
        description="See how WSGI and ASGI really behave: blocking time, concurrency and WebSockets.",
    )
    parser.add_argument("--version", action="version", version=f"gatewatch {VERSION}, {build_name()}")
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
    demo.add_argument(
        "--headless",
        action="store_true",
        help="no dashboard: print the comparison (the default when not on a terminal)",
    )
    demo.add_argument(
        "--json",
        action="store_true",
        help="with --headless: play the live demo's scenarios and print their summary as JSON",
    )
    demo.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds the scenarios run, all of them (default: 60 live, 10 with --json)",
    )
    _add_top(commands)
    _add_export_grafana(commands)
    return parser


INSTALL_DASHBOARD = "gatewatch top needs Textual: pip install 'gatewatch[dashboard]'"
DASHBOARD_IMPORTS = ("textual", "rich", "httpx", "gatewatch_dashboard")
NO_LOCAL_SERVER = (
    "gatewatch top: no server of this user writes its live view in {roots} (a server appears "
    "with its first request); pass --dir PATH, a URL with --token, or --prometheus URL"
)


def _add_top(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    top = commands.add_parser(
        "top",
        help="watch servers live in the terminal (a Textual dashboard)",
        description=(
            "Poll gatewatch's live views (about twice a second) and show each server side "
            "by side: overview, requests in flight and what they await, WebSockets, routes, "
            "loop blocks, workers. With no URL, the servers of this user on this host, read from "
            "their owner-only snapshot directories (no HTTP, no token); a URL is a live endpoint, "
            "which answers only with --token; a URL ending in /metrics is scraped instead; "
            "--prometheus shows a whole fleet through PromQL. Needs gatewatch[dashboard]."
        ),
    )
    top.add_argument(
        "urls",
        nargs="*",
        metavar="URL",
        help="a live endpoint (http://127.0.0.1:8000/_gatewatch/live.json; a bare http://HOST:PORT "
        "means that path; it needs --token) or a /metrics page; several are shown side by side. "
        "None: this user's local servers",
    )
    top.add_argument("--prometheus", metavar="URL", action="append", default=[], help="a Prometheus server")
    top.add_argument(
        "--dir",
        metavar="PATH",
        action="append",
        default=[],
        help="a directory of snapshot files (GATEWATCH_LIVE_DIR, or a PROMETHEUS_MULTIPROC_DIR): "
        "the processes writing there, as one server",
    )
    top.add_argument(
        "--token",
        default=os.environ.get("GATEWATCH_LIVE_TOKEN"),
        help="the live_token the live endpoints expect (default: $GATEWATCH_LIVE_TOKEN)",
    )
    top.add_argument("--interval", type=float, default=0.5, help="seconds between polls (default 0.5)")
    top.add_argument(
        "--wait",
        action="store_true",
        help="open the dashboard even if a source does not answer yet, and keep asking it (without "
        "it, a source that is not listening or not gatewatch's is one line on stderr and exit 2)",
    )


def _top(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if not 0.1 <= args.interval <= 60:
        parser.error("--interval must be between 0.1 and 60 seconds")
    try:
        # Textual's UI is imported once the sources answer: a bad one is said sooner.
        import textual  # noqa: F401
        from gatewatch_dashboard import probe
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] in DASHBOARD_IMPORTS:
            print(INSTALL_DASHBOARD, file=sys.stderr)
            return 2
        raise
    directories = list(args.dir)
    if not args.urls and not args.prometheus and not directories:
        directories = server_dirs()
        if not directories:
            print(NO_LOCAL_SERVER.format(roots=" or ".join(local_roots())), file=sys.stderr)
            return 2
    lines = probe.bad_urls([*args.urls, *args.prometheus])
    if not lines and not args.wait:
        lines = probe.problems(probe.checks_for(args.urls, args.dir, args.prometheus), token=args.token)
    if lines:
        print("\n".join(lines), file=sys.stderr)
        return 2
    from gatewatch_dashboard.app import run
    from gatewatch_dashboard.prometheus_source import PrometheusSource
    from gatewatch_dashboard.sources import DirectorySource, Source, source_for

    sources: list[Source] = [source_for(url, token=args.token) for url in args.urls]
    sources += [DirectorySource(path) for path in directories]
    sources += [PrometheusSource(url) for url in args.prometheus]
    run(sources, interval=args.interval)
    return 0


def _add_export_grafana(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export-grafana",
        help="write the Grafana boards, their provisioning and the Prometheus rules into a directory",
        description=(
            "Write the files that ship with gatewatch into DIR, laid out as grafana/ in "
            "gatewatch's repository: dashboards/*.json (the boards to import), provisioning/ "
            "(Grafana's datasource and dashboard providers), rules/gatewatch-*.yml (recording and "
            "alerting rules), rules/tests/ (their promtool unit test) and prometheus.yml (an "
            "example configuration loading the rules). Nothing is written if any file exists, "
            "unless --force."
        ),
    )
    export.add_argument("directory", type=Path, metavar="DIR", help="where to write (created if missing)")
    export.add_argument("--force", action="store_true", help="overwrite files that exist")


def _export_grafana(args: argparse.Namespace) -> int:
    from gatewatch._grafana_files import ExportError, export

    try:
        written = export(args.directory, force=args.force)
    except ExportError as exc:
        print(f"gatewatch export-grafana: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"gatewatch export-grafana: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line's arguments. argparse takes a positional list in one run only:
    ``top URL --token T URL2`` left URL2 an unrecognized argument, so the URLs after an option
    join the others."""
    args, extra = parser.parse_known_args(argv)
    if args.command == "top" and not any(arg.startswith("-") for arg in extra):
        args.urls = [*args.urls, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    if args.command == "top":
        return _top(args, parser)
    if args.command == "export-grafana":
        return _export_grafana(args)
    if args.command == "demo":
        from gatewatch.demo import live_demo
        from gatewatch.demo.run import DemoError, run

        live = not args.headless and not args.json and live_demo.on_terminal()
        duration = args.duration if args.duration is not None else live_demo.default_duration(live)
        try:
            if args.json:
                return live_demo.run_headless_json(app=args.app, duration=duration, root=args.root)
            if live:
                return live_demo.run_live(app=args.app, duration=duration, root=args.root)
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
