"""Every family gatewatch can export, each with samples, passes ``promtool check metrics``: in a
single process (the aggregator) and in prometheus-client's multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from gatewatch.runtime import Runtime
from tests.support.feed import FAMILIES, exported_families, feed
from tests.support.promtool import check_metrics, promtool_path
from tests.support.traffic import ROOT


def test_single_process_every_family(registry: CollectorRegistry, runtime: Runtime) -> None:
    promtool_path(required=True)
    feed(runtime.registry_monitor(registry))
    text = generate_latest(registry).decode()
    check_metrics(text)
    assert exported_families(text) >= FAMILIES


def test_multiprocess_every_family(tmp_path: Path) -> None:
    promtool_path(required=True)
    script = "from tests.support.feed import multiprocess_exposition as e; print(e(), end='')"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=60, check=True
    )
    text = done.stdout.decode()
    check_metrics(text)
    assert exported_families(text) >= FAMILIES
