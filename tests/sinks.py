"""A sink that always fails, to prove gatewatch's own errors never reach the app."""

from __future__ import annotations

from typing import Any


class BrokenSink:
    def request_started(self, record: Any) -> None:
        pass

    def request_finished(self, record: Any) -> None:
        raise RuntimeError("exporter bug")

    def internal_error(self) -> None:
        pass

    def session_accepted(self, record: Any) -> None:
        pass

    def session_finished(self, record: Any) -> None:
        pass

    def loop_lag(self, seconds: float) -> None:
        pass

    def loop_block(self, route: str, duration: float, stack: Any) -> None:
        pass

    def worker_threads_known(self, threads: int) -> None:
        pass
