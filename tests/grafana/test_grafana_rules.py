"""gatewatch's Prometheus rules pass ``promtool check rules`` and ``promtool test rules``, and every
alert has a unit test that fires and one that stays quiet, and a runbook section."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from gatewatch.catalogue import metric
from tests.support.grafana import (
    GRAFANA,
    RULE_FILES,
    RULE_TESTS,
    RULES,
    alerts,
    load_yaml,
    rules,
    runbook_anchors,
    split_top_level,
    without_threshold,
)
from tests.support.promtool import promtool_path

EXPECTED_ALERTS = {
    "GatewatchEventLoopLagHigh",
    "GatewatchEventLoopBlocked",
    "GatewatchWSGIWorkersSaturated",
    "GatewatchHigh5xxRatio",
    "GatewatchWebSocketAbnormalCloses",
    "GatewatchLatencyBudgetFastBurn",
    "GatewatchLatencyBudgetSlowBurn",
}


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    promtool = promtool_path(required=True)
    assert promtool is not None
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


def test_promtool_check_rules() -> None:
    checked = _promtool("check", "rules", *map(str, RULE_FILES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("SUCCESS") == len(RULE_FILES)


def test_the_rule_glob_takes_only_rule_files() -> None:
    """``promtool check rules grafana/rules/gatewatch-*.yml`` (docs/grafana.md's) exited 1 when the
    glob took the unit test file, which is not a rule file."""
    assert sorted(RULES.glob("gatewatch-*.yml")) == sorted(RULE_FILES)
    checked = _promtool("check", "rules", *map(str, sorted(RULES.glob("gatewatch-*.yml"))))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_test_rules() -> None:
    tested = _promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    suite: dict[str, Any] = load_yaml(RULE_TESTS)
    loaded = sorted((RULE_TESTS.parent / name).resolve() for name in suite["rule_files"])
    assert loaded == sorted(path.resolve() for path in RULE_FILES)
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in suite["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {alert["alert"] for alert in alerts()}
    assert names == EXPECTED_ALERTS
    assert firing == names, f"no firing test for {sorted(names - firing)}"
    assert quiet == names, f"no quiet test for {sorted(names - quiet)}"


def test_every_alert_is_documented() -> None:
    anchors = runbook_anchors()
    for alert in alerts():
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], alert["alert"]
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        url: str = annotations["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == "docs/runbooks.md", url
        assert anchor in anchors, f"{alert['alert']}: no section #{anchor} in docs/runbooks.md"
        assert alert["alert"] in (GRAFANA.parent / "docs" / "runbooks.md").read_text()


def test_threshold_stripping() -> None:
    assert without_threshold("a:b:c > 0.1") == ["a:b:c"]
    assert without_threshold("x * 60 >= 1") == ["x * 60"]
    assert without_threshold('x{a="and"} > (14.4 * 0.01)\nand\ny > (6 * 0.01)') == ['x{a="and"}', "y"]
    assert split_top_level("sum(a and b) and c", "and") == ["sum(a and b)", "c"]


def test_compose_prometheus_config_loads_the_rules(tmp_path: Path) -> None:
    """grafana/prometheus.yml, with its container paths pointed at the checkout, passes promtool."""
    text = (GRAFANA / "prometheus.yml").read_text().replace("/etc/prometheus/rules", str(GRAFANA / "rules"))
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    checked = _promtool("check", "config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("SUCCESS") >= 1 + len(RULE_FILES)


def test_bucket_bounds_in_rules_are_catalogue_buckets() -> None:
    """The latency objective reads one duration bucket: it must be one the catalogue exports."""
    bounds = {float(b) for b in metric("duration").buckets}
    found = [
        (rule.get("record") or rule["alert"], float(value))
        for rule in rules()
        for value in re.findall(r'le="([^"]+)"', rule["expr"])
    ]
    assert found
    assert all(value in bounds for _, value in found), found
