"""One record per HTTP request (or WebSocket session), shared by every layer that sees it."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from time import perf_counter
from typing import TYPE_CHECKING, Final

from gatewatch.types import Scope

if TYPE_CHECKING:
    from gatewatch._measure import RequestMeasurements

ASGI: Final = "asgi"
WSGI: Final = "wsgi"


class RequestRecord:
    """Plain numbers about one request; the middleware fills it, the monitor reads it once."""

    __slots__ = (
        "after_exception_label",
        "after_response",
        "blocking",
        "concurrency",
        "coroutine",
        "cpu",
        "cpu_end",
        "disconnected",
        "end",
        "exception",
        "exception_label",
        "finished",
        "first_byte",
        "interface",
        "left",
        "longest_step",
        "loop_blocks",
        "measured",
        "measured_threads",
        "method",
        "number",
        "offload",
        "offload_depth",
        "offload_queue",
        "offload_started",
        "path",
        "queue",
        "request_bytes",
        "response_bytes",
        "response_complete",
        "root_path",
        "route",
        "route_label",
        "scope",
        "start",
        "status",
        "status_label",
        "thread_hops",
        "view",
        "view_kind",
    )

    measured_threads: int | None

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
        # Steps that held the event loop past the block threshold: (seconds, stack or None).
        self.loop_blocks: list[tuple[float, list[str] | None]] | None = None
        # None when CPU time could not be measured (for example, close() on another thread).
        self.cpu: float | None = 0.0
        # ASGI, a sampled request: thread_time() when its response ended, so that the CPU time
        # of the loop steps stops there, as its duration does (gatewatch.asgi._step_timer).
        self.cpu_end: float | None = None
        self.request_bytes = 0
        self.response_bytes = 0
        # 0 until the application starts a response.
        self.status = 0
        self.exception: BaseException | None = None
        self.disconnected = False
        self.response_complete = False
        # The route template named by the framework (or an integration), not the raw path.
        self.route: str | None = None
        # An ASGI request's scope and its root path on arrival, while it is in flight: the
        # live view reads the route a router (Starlette, FastAPI) put there as soon as it
        # routed (gatewatch.asgi._routes), only when a snapshot is built. Dropped when the
        # request leaves in-flight, so that finished records keep no app state alive.
        self.scope: Scope | None = None
        self.root_path = ""
        # An ASGI request's application coroutine while it is in flight: the live view reads
        # what it awaits now (the innermost frame of its await chain) only when a snapshot is
        # built. A weak reference (the coroutine must stay collectable); dropped with the scope.
        self.coroutine: Callable[[], object] | None = None
        self.concurrency = 0
        # The monitor's count of requests started in this process when this one started.
        self.number = 0
        # Seconds the request waited before the application saw it, from a proxy's
        # timestamp header (None: no header).
        self.queue: float | None = None
        # Work handed to threads through asgiref's sync_to_async (gatewatch.asgi._offload):
        # wall time waited on those threads (None: not tracked for this request), how long
        # that work queued for a thread, and how many loop/thread crossings there were
        # (async_to_sync ones too).
        self.offload: float | None = None
        self.offload_queue = 0.0
        self.thread_hops = 0
        # Book-keeping so nested hand-offs count their time once.
        self.offload_depth = 0
        self.offload_started = 0.0
        # The view a framework integration resolved (dotted name) and whether it is sync or async.
        self.view: str | None = None
        self.view_kind = ""
        # Bounded label values, filled in by the monitor when the request finishes.
        self.route_label = ""
        self.status_label = ""
        self.exception_label = ""
        # Book-keeping of the monitor: out of the in-flight counts, and recorded (each once).
        self.left = False
        self.finished = False
        # Seconds the application went on after its response ended (Django's close hop,
        # background tasks), and an exception raised then; set once it returns.
        self.after_response: float | None = None
        self.after_exception_label = ""
        # Its measurements (gatewatch._measure.measure_request), made by the first sink that
        # needs them and shared by the others, with the worker threads they were made for.
        self.measured: RequestMeasurements | None = None
        # (measured_threads is set with measured, and read only when that is: no store here.)

    def response_ended(self) -> None:
        """The whole body went out; a body-less response's first byte is its end."""
        self.response_complete = True
        if self.first_byte is None:
            self.first_byte = perf_counter()

    @property
    def duration(self) -> float:
        """Seconds from arrival to the end of the response (or to now, while in flight)."""
        return (self.end if self.end is not None else perf_counter()) - self.start


current_record: ContextVar[RequestRecord | None] = ContextVar("gatewatch_record", default=None)


ACCEPTED: Final = "accepted"
REJECTED: Final = "rejected"
FAILED: Final = "failed"
CLIENT: Final = "client"
SERVER: Final = "server"


class WebSocketRecord(RequestRecord):
    """One WebSocket session, from the handshake to the close, counted on its ASGI events."""

    __slots__ = (
        "accepted_at",
        "close_code",
        "close_label",
        "closed_at",
        "initiator",
        "last_message_at",
        "outcome",
        "received_binary",
        "received_bytes",
        "received_text",
        "sent_binary",
        "sent_bytes",
        "sent_text",
        "session_id",
    )

    def __init__(self, path: str, start: float, session_id: int) -> None:
        super().__init__(ASGI, "GET", path, start)
        self.session_id = session_id
        self.accepted_at: float | None = None
        self.closed_at: float | None = None
        # accepted / rejected / failed; decided by the first thing the app does.
        self.outcome = ""
        self.received_text = 0
        self.received_binary = 0
        self.received_bytes = 0
        self.sent_text = 0
        self.sent_binary = 0
        self.sent_bytes = 0
        self.last_message_at: float | None = None
        self.close_code: int | None = None
        # The close code as a bounded label (gatewatch._measure), set by the monitor at the end.
        self.close_label = ""
        # client / server: whoever's close (or drop) came first.
        self.initiator = ""

    @property
    def session_duration(self) -> float | None:
        """Seconds from accept to close; None for sessions never accepted."""
        if self.accepted_at is None:
            return None
        end = self.closed_at if self.closed_at is not None else perf_counter()
        return end - self.accepted_at

    def close_by(self, initiator: str, code: int) -> None:
        """Note who closed the session and with which code; the first close wins."""
        if not self.initiator:
            self.initiator = initiator
            self.close_code = code
            self.closed_at = perf_counter()
