"""Bounded label values: routes, methods, statuses and exception types.

Label cardinality is what makes a metrics backend fall over, so every value that
comes from outside (a route table that grows, an odd method, a made-up status) is
mapped onto a bounded set here, and what spills over is counted, not dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Final, Protocol

UNMATCHED: Final = "<unmatched>"
OTHER: Final = "<other>"
OTHER_METHOD: Final = "_OTHER"
OTHER_STATUS: Final = "_OTHER"

# The methods of RFC 9110 and PATCH (RFC 5789), as OpenTelemetry's HTTP semantic
# conventions list them; anything else is "_OTHER".
METHOD_LABELS: Final = {
    m: m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
}
STATUS_LABELS: Final = {code: str(code) for code in range(100, 600)}

MAX_LABEL_LENGTH: Final = 200


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, OTHER_METHOD)


def status_label(status: int) -> str:
    return STATUS_LABELS.get(status, OTHER_STATUS)


class Admission(Protocol):
    """Decides, for a value not yet admitted here, whether there is room for it (the server-wide
    list of :mod:`gatewatch.export.prometheus.shared_labels` in multiprocess mode)."""

    def admit(self, value: str) -> bool: ...


class BoundedLabels:
    """Admits the first ``limit`` distinct values; later newcomers share ``overflow``.

    With :meth:`share`, the first ``limit`` of the whole server (every worker process, recycled
    ones included) instead of this process's.
    """

    def __init__(self, *, limit: int, overflow: str = OTHER) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        self._limit = limit
        self._overflow = overflow
        self._admitted: dict[str, str] = {}
        # The values admitted so far (each its own label), for a caller on the request path
        # to read first without a call: only :meth:`label` may add to it.
        self.admitted: Mapping[str, str] = self._admitted
        self._lock = threading.Lock()
        self._shared: Admission | None = None
        self.overflowed = 0

    def share(self, admission: Admission) -> None:
        """Admit through ``admission`` (multiprocess mode) from now on."""
        with self._lock:
            self._shared = admission
            self._admitted.clear()

    def __len__(self) -> int:
        return len(self._admitted)

    def label(self, value: str) -> str:
        admitted = self._admitted.get(value)
        if admitted is not None:
            return admitted
        return self._admit(value)

    def _admit(self, value: str) -> str:
        with self._lock:
            admitted = self._admitted.get(value)
            if admitted is not None:
                return admitted
            if len(value) > MAX_LABEL_LENGTH or not self._room_for(value):
                self.overflowed += 1
                return self._overflow
            self._admitted[value] = value
            return value

    def _room_for(self, value: str) -> bool:
        shared = self._shared
        if shared is None:
            return len(self._admitted) < self._limit
        return shared.admit(value)


def check_max_routes(max_routes: object) -> None:
    """The one check of the ``max_routes`` option, for every place that takes it."""
    if isinstance(max_routes, bool) or not isinstance(max_routes, int):
        raise TypeError(f"max_routes must be an int, got {type(max_routes).__name__}")
    if max_routes < 1:
        raise ValueError(f"max_routes must be at least 1, got {max_routes}")


class RouteLabels(BoundedLabels):
    """Route templates, at most ``max_routes`` of them, plus ``<unmatched>`` and ``<other>``."""

    def __init__(self, *, max_routes: int) -> None:
        check_max_routes(max_routes)
        super().__init__(limit=max_routes)

    def route(self, template: str | None) -> str:
        if template is None:
            return UNMATCHED
        return self.label(template)


def exception_name(exc: BaseException) -> str:
    """``module.QualifiedName`` as OpenTelemetry's ``error.type``; builtins stay short."""
    cls = type(exc)
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"
