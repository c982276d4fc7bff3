"""A sink that always fails, to prove gatewatch's own errors never reach the app."""

from __future__ import annotations

from typing import Any

from gatewatch.monitor import Sink


class BrokenSink(Sink):
    def request_finished(self, record: Any) -> None:
        raise RuntimeError("exporter bug")


class BrokenEverywhereSink(Sink):
    """Fails in every per-request hook."""

    def request_started(self, record: Any) -> None:
        raise RuntimeError("exporter bug at start")

    def request_left(self, record: Any) -> None:
        raise RuntimeError("exporter bug at leave")

    def request_finished(self, record: Any) -> None:
        raise RuntimeError("exporter bug at finish")
