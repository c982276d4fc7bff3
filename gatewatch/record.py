"""One record per HTTP request (or WebSocket session), shared by every layer that sees it."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final

ASGI: Final = "asgi"
WSGI: Final = "wsgi"


class RequestRecord:
    """Plain numbers about one request; the middleware fills it, the monitor reads it once."""

    __slots__ = (
        "blocking",
        "concurrency",
        "cpu",
        "disconnected",
        "end",
        "exception",
        "exception_label",
        "first_byte",
        "interface",
        "longest_step",
        "method",
        "path",
        "request_bytes",
        "response_bytes",
        "response_complete",
        "route",
        "route_label",
        "start",
        "status",
        "status_label",
    )

    def __init__(self, interface: str, method: str, path: str, start: float) -> None:
        self.interface = interface
        self.method = method
        self.path = path
        self.start = start
        # perf_counter() when the response really ended; None until then.
        self.end: float | None = None
        self.first_byte: float | None = None
        self.blocking = 0.0
        self.longest_step = 0.0
        # None when CPU time could not be measured (for example, close() on another thread).
        self.cpu: float | None = 0.0
        self.request_bytes = 0
        self.response_bytes = 0
        # 0 until the application starts a response.
        self.status = 0
        self.exception: BaseException | None = None
        self.disconnected = False
        self.response_complete = False
        # The route template named by the framework (or an integration), not the raw path.
        self.route: str | None = None
        self.concurrency = 0
        # Bounded label values, filled in by the monitor when the request finishes.
        self.route_label = ""
        self.status_label = ""
        self.exception_label = ""

    @property
    def duration(self) -> float:
        """Seconds from arrival to the end of the response (or to now, while in flight)."""
        from time import perf_counter

        return (self.end if self.end is not None else perf_counter()) - self.start


current_record: ContextVar[RequestRecord | None] = ContextVar("gatewatch_record", default=None)


def set_route(template: str) -> None:
    """Name the route template of the request being served, from any framework integration.

    Call it from inside the application (a view, a hook, an inner middleware) with the
    template, never the raw path: ``set_route("/items/{id}")``. Outside a request, or
    under an application not wrapped by gatewatch, it does nothing.
    """
    record = current_record.get()
    if record is not None:
        record.route = template
