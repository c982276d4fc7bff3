"""What a sink is: the hooks a monitor calls (gatewatch.monitor re-exports it).

A module of its own, left as Python in the compiled build (setup.py's COMPILED_MODULES): sinks
are users', OpenTelemetry's and tests' subclasses, and mypyc's compiled classes take neither
interpreted subclasses checked as such nor weak references.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gatewatch.record import RequestRecord, WebSocketRecord


class Sink:
    """Something that turns records into a view: Prometheus, OpenTelemetry, the live state.

    Every hook does nothing here; a sink overrides the ones it needs, in its class. The
    monitor reads which ones a sink's class overrides when the sink is added, and calls only
    those (a hook set on an instance, or added to the class later, is not seen). A hook
    that raises is counted as an internal error and never stops the request or the other sinks.

    ``shows_in_flight``: True for a sink that reads the requests in flight
    (:meth:`Monitor.flying`) with what they await now: only then does each ASGI request keep
    a weak reference to its application's coroutine.
    """

    shows_in_flight = False

    def request_started(self, record: RequestRecord) -> None:
        """A request arrived (it counts as in flight from now)."""

    def request_left(self, record: RequestRecord) -> None:
        """The request no longer counts as in flight: its response ended, or it finished
        without one. Comes once per request, before :meth:`request_finished`."""

    def request_finished(self, record: RequestRecord) -> None:
        """The request is over; every number of ``record`` is final. When its response ended
        and the application returned (ASGI) or the response was closed (WSGI) after that,
        ``record.after_response`` is the seconds in between (else None), and
        ``record.after_exception_label`` names an exception raised then ("" if none)."""

    def internal_error(self) -> None:
        """An error inside gatewatch was counted."""

    def session_accepted(self, record: WebSocketRecord) -> None:
        """A WebSocket session was accepted."""

    def session_finished(self, record: WebSocketRecord) -> None:
        """A WebSocket session ended (accepted or not)."""

    def loop_lag(self, seconds: float) -> None:
        """A lag sample of an event loop."""

    def loop_block(self, route: str, duration: float, stack: list[str] | None) -> None:
        """A synchronous step held an event loop past the block threshold."""

    def worker_threads_known(self, threads: int) -> None:
        """How many WSGI requests this process serves at once."""

    def note_server(self, interface: str, server: str) -> None:
        """The server serving ``interface`` in this process (gatewatch.integrations._serving_server)."""
