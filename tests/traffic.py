"""Shared pieces of the real-server traffic tests: one request of a mix, and its expected labels."""

from __future__ import annotations

from dataclasses import dataclass

from tests.scrape import samples

DURATION_COUNT = "gatewatch_http_request_duration_seconds_count"

# (method, route, status) -> requests
Key = tuple[str, str, str]


@dataclass(frozen=True)
class Call:
    """One request of the mix, with what gatewatch must label it."""

    method: str
    path: str
    route: str
    status: int
    body: bytes = b""

    @property
    def key(self) -> Key:
        return (self.method, self.route, str(self.status))


def duration_counts(text: str, interface: str) -> dict[Key, int]:
    """Every ``..._duration_seconds_count`` series of ``interface`` as {(method, route, status): n}."""
    out: dict[Key, int] = {}
    for (name, labels), number in samples(text).items():
        found = dict(labels)
        if name == DURATION_COUNT and found.get("interface") == interface:
            out[(found["method"], found["route"], found["status"])] = int(number)
    return out
