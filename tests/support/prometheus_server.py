"""A real Prometheus (Debian's package) on 127.0.0.1 for the tests that scrape or query one."""

from __future__ import annotations

import shutil
from pathlib import Path

from gatewatch.demo.servers import LOOPBACK, ServerProcess

PROMETHEUS = Path(shutil.which("prometheus") or "/usr/bin/prometheus")


def prometheus_process(config: Path, data: Path, port: int, *, directory: Path) -> ServerProcess:
    """Prometheus with ``config``, its database in ``data``, serving ``port``; it runs in
    ``directory`` and logs to ``prometheus.log`` there. Ready once ``/-/ready`` answers."""
    return ServerProcess(
        [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address={LOOPBACK}:{port}",
        ],
        port=port,
        ready_path="/-/ready",
        cwd=directory,
        log_path=directory / "prometheus.log",
    )
