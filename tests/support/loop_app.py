"""The Starlette example wrapped with a finer lag probe (20 ms), for the loop-lag tests:
a 200 ms block then always leaves a sample of at least 180 ms."""

from __future__ import annotations

from examples.starlette_app import app
from gatewatch import GatewatchASGI

wrapped = GatewatchASGI(app, metrics_path="/metrics", loop_lag_interval=0.02)
