"""Every PromQL expression of every Grafana panel and every rule returns data on a real Prometheus.

The example Django project runs under uvicorn (ASGI, with Channels WebSockets) and under
``gunicorn -c examples/gunicorn.conf.py -w 2`` (WSGI, multiprocess metrics); a real ``prometheus``
(Debian's package) on 127.0.0.1 scrapes both every second and evaluates the recording and
alerting rules of ``grafana/rules`` every second. Bounded traffic gives every panel something to
show: fast requests, 5xx, loop blocks, clients that leave, a saturating WSGI burst and
WebSocket sessions that close every way. Then each expression runs through ``/api/v1/query``
with the board variables substituted, and must parse and return at least one number: a panel
that would stay empty fails the test.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gatewatch.demo.servers import LOOPBACK, ServerProcess, free_port, gunicorn_command, uvicorn_command
from gatewatch.queries import fleet
from tests.support.grafana import (
    RULE_FILES,
    Query,
    board_queries,
    dashboards,
    label_values_query,
    rules,
    substitute,
    variable_query,
    without_threshold,
)
from tests.support.grafana_traffic import http_mix, websocket_sessions, wsgi_burst
from tests.support.prometheus_server import PROMETHEUS, prometheus_process
from tests.support.traffic import ROOT

JOB = "examples"
TRAFFIC_SECONDS = 6.0
BUDGET_SECONDS = 60.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PROMETHEUS.exists(), reason="prometheus is not installed (Debian: apt-get install prometheus)"
    ),
]


def _api(base_url: str, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
    url = f"{base_url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=10.0) as response:
            body = response.read()
    except urllib.error.HTTPError as error:  # a bad query is a 400 with the parser's message
        body = error.read()
    except OSError as error:  # not listening yet
        return {"status": "error", "error": str(error)}
    try:
        answer: dict[str, Any] = json.loads(body)
    except ValueError:  # 503 "Service Unavailable" while the TSDB starts
        return {"status": "error", "error": body.decode(errors="replace")}
    return answer


def _query(base_url: str, expr: str) -> dict[str, Any]:
    return _api(base_url, "query", [("query", expr)])


def _has_data(answer: dict[str, Any]) -> bool:
    """A vector with at least one sample that is a number (a 0/0 is NaN: no data on a panel)."""
    if answer.get("status") != "success":
        return False
    values = [float(sample["value"][1]) for sample in answer["data"]["result"]]
    return any(not math.isnan(value) for value in values)


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def _app(command: list[str], port: int, log: Path) -> ServerProcess:
    python_path = os.environ.get("PYTHONPATH", "")
    server = ServerProcess(
        command,
        port=port,
        ready_path="/metrics",  # not recorded, so it adds no request to the counts
        env={"PYTHONPATH": str(ROOT) + (os.pathsep + python_path if python_path else "")},
        cwd=ROOT,
        log_path=log,
    )
    # gunicorn.conf.py's hooks make the multiprocess directory; uvicorn runs single-process.
    for name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", "GATEWATCH_LIVE_DIR"):
        server.env.pop(name, None)
    return server


@pytest.fixture
def started_at() -> float:
    """When the test began, servers' start-up included (the budget covers all of it)."""
    return time.monotonic()


@pytest.fixture
def servers(started_at: float, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    asgi_port, wsgi_port = free_port(), free_port()
    asgi = _app(
        uvicorn_command("examples.django_project.asgi:application", asgi_port),
        asgi_port,
        tmp_path / "uvicorn.log",
    )
    wsgi = _app(
        gunicorn_command(
            "examples.django_project.wsgi:application",
            wsgi_port,
            "-c",
            "examples/gunicorn.conf.py",
            "-w",
            "2",
        ),
        wsgi_port,
        tmp_path / "gunicorn.log",
    )
    with asgi, wsgi:
        yield asgi, wsgi


@pytest.fixture
def prometheus(tmp_path: Path, servers: tuple[ServerProcess, ServerProcess]) -> Iterator[ServerProcess]:
    port = free_port()
    targets = ", ".join(f"'{LOOPBACK}:{server.port}'" for server in servers)
    rule_files = "".join(f"  - {path}\n" for path in RULE_FILES)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        f"rule_files:\n{rule_files}"
        "scrape_configs:\n"
        f"  - job_name: {JOB}\n"
        "    static_configs:\n"
        f"      - targets: [{targets}]\n"
    )
    server = prometheus_process(config, tmp_path / "data", port, directory=tmp_path)
    with server:
        # Both targets scraped and up before any traffic.
        _wait_for(
            lambda: _has_data(_query(server.base_url, f'count(up{{job="{JOB}"}} == 1) == 2')),
            timeout=15.0,
            what="Prometheus never scraped both apps",
        )
        yield server


def _drive_traffic(asgi: ServerProcess, wsgi: ServerProcess) -> None:
    errors: list[BaseException] = []

    def run(target: Callable[[], None]) -> threading.Thread:
        def body() -> None:
            try:
                target()
            except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
                errors.append(error)

        thread = threading.Thread(target=body, daemon=True)
        thread.start()
        return thread

    threads = [
        run(lambda: http_mix(asgi.base_url, seconds=TRAFFIC_SECONDS, queue_header=False)),
        run(lambda: http_mix(wsgi.base_url, seconds=TRAFFIC_SECONDS, queue_header=True)),
        run(lambda: websocket_sessions(asgi.base_url, seconds=TRAFFIC_SECONDS)),
    ]
    time.sleep(1.0)
    wsgi_burst(wsgi.base_url)
    for thread in threads:
        thread.join(timeout=30.0)
        assert not thread.is_alive(), "traffic did not finish"
    if errors:
        raise errors[0]


def _all_queries() -> list[Query]:
    queries: list[Query] = []
    for name, board in dashboards().items():
        queries += [Query(query.where, substitute(query.expr)) for query in board_queries(name, board)]
    for rule in rules():
        if "record" in rule:
            queries.append(Query(f"recording rule {rule['record']}", rule["expr"]))
            # And what Prometheus recorded: the rules are loaded and evaluated.
            queries.append(Query(f"recorded series {rule['record']}", rule["record"]))
        else:
            # An alert compares with a threshold that quiet traffic does not cross: the values
            # it compares must exist (each operand of its `and`, the comparison taken off).
            for index, part in enumerate(without_threshold(rule["expr"])):
                queries.append(Query(f"alert {rule['alert']} operand {index}", part))
    # gatewatch top --prometheus: the dashboard's fleet Overview.
    queries += [Query(f"dashboard fleet query {key}", expr) for key, expr in fleet().items()]
    return queries


def test_every_panel_and_rule_returns_data(
    started_at: float, servers: tuple[ServerProcess, ServerProcess], prometheus: ServerProcess
) -> None:
    asgi, wsgi = servers
    _drive_traffic(asgi, wsgi)
    base = prometheus.base_url
    # Let the last requests be scraped and the rules evaluated on them.
    _wait_for(
        lambda: (
            _has_data(
                _query(base, 'sum(job_interface:gatewatch_http_requests_5xx:ratio_rate5m{interface="asgi"})')
            )
            and _has_data(
                _query(base, 'sum(job_interface:gatewatch_http_requests_5xx:ratio_rate5m{interface="wsgi"})')
            )
        ),
        timeout=10.0,
        what="the recording rules never saw both interfaces",
    )
    time.sleep(2.0)

    rule_state = _api(base, "rules", [])
    loaded = [rule for group in rule_state["data"]["groups"] for rule in group["rules"]]
    assert len(loaded) == len(rules())
    assert all(rule["health"] == "ok" for rule in loaded), [r for r in loaded if r["health"] != "ok"]

    empty: list[str] = []
    queries = _all_queries()
    for query in queries:
        answer = _query(base, query.expr)
        if not _has_data(answer):
            empty.append(
                f"{query.where}: {answer.get('error') or answer['data']['result']}\n    {query.expr}"
            )
    # Alerts as written (threshold included) parse and evaluate, firing or not.
    for rule in rules():
        if "alert" in rule:
            answer = _query(base, rule["expr"])
            assert answer["status"] == "success", (rule["alert"], answer)
    # Every board variable lists values.
    for name, board in dashboards().items():
        for variable in board["templating"]["list"][1:]:
            selector, label = label_values_query(variable_query(variable))
            answer = _api(base, f"label/{label}/values", [("match[]", substitute(selector))])
            if answer.get("status") != "success" or not answer["data"]:
                empty.append(f"{name}: variable {variable['name']}: {answer}")
    assert not empty, f"{len(empty)} of {len(queries)} expressions return no data:\n" + "\n".join(empty)
    assert sorted(_labels(base, "interface")) == ["asgi", "wsgi"]
    assert time.monotonic() - started_at < BUDGET_SECONDS


def _labels(base_url: str, label: str) -> list[str]:
    answer = _api(base_url, f"label/{label}/values", [("match[]", "gatewatch_info")])
    values: list[str] = answer["data"]
    return values
