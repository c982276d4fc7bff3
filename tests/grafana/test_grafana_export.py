"""``gatewatch export-grafana DIR``: the boards, provisioning and rules that ship in the package,
written out as the checkout's grafana/ lays them out, never over a file unless --force."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gatewatch._grafana_files import shipped_files
from gatewatch.cli import main
from tests.support.grafana import GRAFANA
from tests.support.promtool import promtool_path


def _written(directory: Path) -> list[str]:
    return sorted(path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file())


def test_writes_the_checkout_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new" / "grafana"
    assert main(["export-grafana", str(out)]) == 0
    names = _written(out)
    assert names == [
        "dashboards/gatewatch-loop-workers.json",
        "dashboards/gatewatch-overview.json",
        "dashboards/gatewatch-route.json",
        "dashboards/gatewatch-websockets.json",
        "prometheus.yml",
        "provisioning/dashboards/gatewatch.yml",
        "provisioning/datasources/gatewatch.yml",
        "rules/gatewatch-alerts.yml",
        "rules/gatewatch-recording.yml",
        "rules/tests/gatewatch-alerts.test.yml",
    ]
    assert names == list(shipped_files())
    for name in names:
        assert (out / name).read_bytes() == (GRAFANA / name).read_bytes(), name
    assert capsys.readouterr().out.splitlines() == [str(out / name) for name in names]


def test_the_written_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = promtool_path(required=True)
    assert promtool is not None
    assert main(["export-grafana", str(tmp_path)]) == 0
    rules = sorted((tmp_path / "rules").glob("gatewatch-*.yml"))
    for args in (
        ["check", "rules", *map(str, rules)],
        ["test", "rules", "rules/tests/gatewatch-alerts.test.yml"],
    ):
        run = subprocess.run([promtool, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr


def test_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-grafana", str(tmp_path)]) == 0
    edited = tmp_path / "rules" / "gatewatch-alerts.yml"
    edited.write_text("# my thresholds\n")
    (tmp_path / "dashboards" / "gatewatch-route.json").unlink()
    capsys.readouterr()

    assert main(["export-grafana", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("gatewatch export-grafana: ")
    assert "9 of the 10 files" in captured.err and "--force" in captured.err
    # Nothing written: the edit stays and the removed board is not back.
    assert edited.read_text() == "# my thresholds\n"
    assert not (tmp_path / "dashboards" / "gatewatch-route.json").exists()

    assert main(["export-grafana", "--force", str(tmp_path)]) == 0
    assert edited.read_bytes() == (GRAFANA / "rules" / "gatewatch-alerts.yml").read_bytes()
    assert (tmp_path / "dashboards" / "gatewatch-route.json").exists()


def test_a_file_in_the_way_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "grafana"
    target.write_text("not a directory\n")
    assert main(["export-grafana", str(target)]) == 1
    assert capsys.readouterr().err == f"gatewatch export-grafana: {target} is not a directory\n"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "rules").write_text("")
    assert main(["export-grafana", "--force", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gatewatch export-grafana: ") and err.count("\n") == 1, err
