"""The Grafana boards are well formed for Grafana and name only what the catalogue exports."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from gatewatch_dashboard.prometheus_source import QUERIES, WINDOW

from gatewatch.queries import fleet, server_error_ratio
from tests.support.grafana import (
    DASHBOARDS,
    GRAFANA,
    RULE_FILES,
    board_queries,
    catalogue_spec,
    dashboards,
    known_labels,
    label_names,
    label_values_query,
    load_generator,
    load_yaml,
    metric_names,
    panels,
    recording_names,
    rule_queries,
    variable_query,
    variables_used,
)
from tests.support.traffic import ROOT

BOARDS = dashboards()
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
REQUIRED_VARIABLES = ("datasource", "job", "instance", "interface", "route")
EXPECTED_BOARDS = {
    "gatewatch-overview.json": "gatewatch / WSGI vs ASGI overview",
    "gatewatch-loop-workers.json": "gatewatch / Event loop and workers",
    "gatewatch-websockets.json": "gatewatch / WebSockets",
    "gatewatch-route.json": "gatewatch / Route drill-down",
}


def test_the_four_boards_are_there() -> None:
    assert {name: board["title"] for name, board in BOARDS.items()} == EXPECTED_BOARDS
    assert len({board["uid"] for board in BOARDS.values()}) == len(BOARDS)


def test_the_files_are_what_the_generator_writes() -> None:
    """The boards' JSON and the rule files are written by grafana/generate.py from the board
    modules, the rule modules and gatewatch/queries.py; edited by hand, they would drift."""
    rendered = load_generator().render()
    written = [f"dashboards/{path.name}" for path in DASHBOARDS.glob("*.json")]
    written += [path.relative_to(GRAFANA).as_posix() for path in RULE_FILES]
    assert sorted(rendered) == sorted(written)
    for name, text in rendered.items():
        assert (GRAFANA / name).read_text() == text, f"{name} is stale: run python grafana/generate.py"


# Where PromQL and metric names are written: they may name a metric only through the catalogue
# (gatewatch.queries.series and friends), never as a literal.
QUERY_SOURCES = (
    *sorted(GRAFANA.rglob("*.py")),
    ROOT / "gatewatch" / "queries.py",
    *sorted((ROOT / "dashboard" / "gatewatch_dashboard").rglob("*.py")),
)


def test_no_metric_name_is_written_outside_the_catalogue() -> None:
    assert len(QUERY_SOURCES) > 10
    literals = [
        (path.relative_to(ROOT).as_posix(), name)
        for path in QUERY_SOURCES
        for name in re.findall(r"\bgatewatch_\w+", path.read_text())
        if name != "gatewatch_dashboard"  # the dashboard's package
    ]
    assert not literals, literals


def test_the_dashboard_queries_the_fleet_with_the_shared_queries() -> None:
    assert fleet(WINDOW) == QUERIES
    assert set(QUERIES) >= {"rate", "p99", "errors", "blocking", "busy", "capacity"}
    assert QUERIES["errors"] == server_error_ratio("interface", window=WINDOW)
    unknown = [
        (key, name)
        for key, expr in QUERIES.items()
        for name in metric_names(expr)
        if catalogue_spec(name) is None
    ]
    assert not unknown, unknown


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_is_well_formed_for_grafana(name: str) -> None:
    board = BOARDS[name]
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["uid"] and len(board["uid"]) <= 40
    assert board["title"] and "gatewatch" in board["tags"]
    assert board.get("id") is None  # an import must not clash with an existing board's id
    every = list(panels(board))
    assert every
    ids = [panel["id"] for panel in every]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    cells: set[tuple[int, int]] = set()
    for panel in every:
        where = f"{name}: {panel.get('title')!r}"
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid), where
        assert all(isinstance(grid[key], int) and grid[key] >= 0 for key in "hwxy"), where
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, where
        covered = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not covered & cells, f"{where} overlaps another panel"
        cells |= covered
        assert panel["type"] in {"timeseries", "stat", "table", "heatmap"}, where
        assert panel["title"] and panel["description"], where
        assert panel["datasource"] == DATASOURCE, where
        targets = panel["targets"]
        assert targets, where
        assert len({target["refId"] for target in targets}) == len(targets), where
        for target in targets:
            assert target["datasource"] == DATASOURCE, where
            assert target["expr"].strip(), where


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_variables_are_defined_and_none_is_hard_coded(name: str) -> None:
    board = BOARDS[name]
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert tuple(variables) == REQUIRED_VARIABLES
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
    for key in REQUIRED_VARIABLES[1:]:
        variable = variables[key]
        assert variable["type"] == "query"
        assert variable["datasource"] == DATASOURCE
        assert variable_query(variable).startswith("label_values(")
    # Every $var anywhere in the board (expressions, links, titles) is one of its variables.
    used = variables_used(json.dumps(board))
    assert used <= set(variables), f"undefined variables: {sorted(used - set(variables))}"
    for query in board_queries(name, board):
        assert "instance=" not in query.expr.replace('instance=~"$instance"', ""), query
        assert "job=" not in query.expr.replace('job=~"$job"', ""), query
        assert 'job=~"$job"' in query.expr or "$job" not in query.expr, query
    # The job and instance variables narrow every panel.
    for query in board_queries(name, board):
        assert 'job=~"$job"' in query.expr, query


def test_latency_panels_show_exemplars() -> None:
    exemplar_panels: list[tuple[str, str]] = []
    for name, board in BOARDS.items():
        for panel in panels(board):
            exprs = [target["expr"] for target in panel["targets"]]
            if any("gatewatch_http_request_duration_seconds_bucket" in expr for expr in exprs) and panel[
                "type"
            ] in ("timeseries", "heatmap"):
                assert all(target.get("exemplar") is True for target in panel["targets"]), panel["title"]
                exemplar_panels.append((name, panel["title"]))
    assert ("gatewatch-route.json", "Latency p50 / p95 / p99") in exemplar_panels
    assert ("gatewatch-overview.json", "Latency p50 / p95 / p99") in exemplar_panels


def test_route_drill_down_shows_one_route() -> None:
    route = BOARDS["gatewatch-route.json"]["templating"]["list"][-1]
    assert route["name"] == "route" and route["multi"] is False and route["includeAll"] is False


def _names(exprs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(where, name) for where, expr in exprs for name in sorted(metric_names(expr))]


def test_boards_and_rules_use_only_catalogue_names() -> None:
    """A renamed metric cannot leave a panel or a rule silently empty."""
    recorded = recording_names()
    exprs: list[tuple[str, str]] = [
        (q.where, q.expr) for name, b in BOARDS.items() for q in board_queries(name, b)
    ]
    exprs += [(q.where, q.expr) for q in rule_queries()]
    for board in BOARDS.values():
        for variable in board["templating"]["list"][1:]:
            selector, label = label_values_query(variable_query(variable))
            exprs.append((f"variable {variable['name']}", f"count by ({label}) ({selector})"))
    unknown = [
        (where, name)
        for where, name in _names(exprs)
        if catalogue_spec(name) is None and name not in recorded
    ]
    assert not unknown, unknown
    # Recording rules are named level:metric:operations after a catalogue metric.
    for name in recorded:
        level, metric, operations = name.split(":")
        assert level and operations and metric.startswith("gatewatch_"), name
    labels = known_labels()
    wrong = [(where, label) for where, expr in exprs for label in label_names(expr) if label not in labels]
    assert not wrong, wrong


def test_name_extraction() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (interface, le) (rate(gatewatch_http_request_duration_seconds_bucket"
        '{job=~"$job", status=~"5.."}[$__rate_interval]))) / on (job) group_left '
        "instance:gatewatch_event_loop_lag_seconds:p99_rate5m > 1e-3 and bool 60 * foo_total offset 5m"
    )
    assert metric_names(expr) == {
        "gatewatch_http_request_duration_seconds_bucket",
        "instance:gatewatch_event_loop_lag_seconds:p99_rate5m",
        "foo_total",
    }
    assert label_names(expr) == {"interface", "le", "job", "status"}
    spec = catalogue_spec("gatewatch_http_request_duration_seconds_bucket")
    assert spec is not None and spec.key == "duration"
    assert catalogue_spec("gatewatch_http_exceptions_total_count") is None
    assert catalogue_spec("gatewatch_http_request_duration_seconds_total") is None


def test_provisioning_points_at_the_boards() -> None:
    datasources: dict[str, Any] = load_yaml(GRAFANA / "provisioning" / "datasources" / "gatewatch.yml")
    (prometheus,) = datasources["datasources"]
    assert prometheus["type"] == "prometheus"
    destinations = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    assert destinations and all(d["name"] and d["datasourceUid"] for d in destinations)
    providers: dict[str, Any] = load_yaml(GRAFANA / "provisioning" / "dashboards" / "gatewatch.yml")
    (provider,) = providers["providers"]
    compose: dict[str, Any] = load_yaml(GRAFANA / "docker-compose.yml")
    grafana_volumes = compose["services"]["grafana"]["volumes"]
    assert f"./dashboards:{provider['options']['path']}:ro" in grafana_volumes
    assert "./provisioning:/etc/grafana/provisioning:ro" in grafana_volumes
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert (GRAFANA / source).exists(), volume
