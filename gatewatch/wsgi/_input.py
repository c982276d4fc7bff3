"""``wsgi.input`` that counts the request body bytes the application really reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from gatewatch.record import RequestRecord

# Read paths beyond PEP 3333's four that frameworks use (Werkzeug's LimitedStream calls
# ``readinto`` whenever the server's stream has it). They are counted only when the
# server's stream has them, so ``hasattr(wsgi_input, "readinto")`` answers as it would
# bare and a framework picks the same read path either way.
_INTO = frozenset({"readinto", "readinto1"})
_OPTIONAL = _INTO | {"read1"}


class CountingInput:
    """Passes every read through unchanged and adds the bytes it returned to the record."""

    # The optional read methods are slots left empty: the first access goes to
    # __getattr__, which fills the slot with a counting wrapper, so later calls (one per
    # chunk) find it directly instead of building a wrapper each time.
    __slots__ = ("_record", "_stream", "read1", "readinto", "readinto1")

    read1: Callable[..., bytes]
    readinto: Callable[..., int | None]
    readinto1: Callable[..., int | None]

    def __init__(self, stream: Any, record: RequestRecord) -> None:
        self._stream = stream
        self._record = record

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        data: bytes = self._stream.read(*args, **kwargs)
        self._record.request_bytes += len(data)
        return data

    def readline(self, *args: Any, **kwargs: Any) -> bytes:
        line: bytes = self._stream.readline(*args, **kwargs)
        self._record.request_bytes += len(line)
        return line

    def readlines(self, *args: Any, **kwargs: Any) -> list[bytes]:
        lines: list[bytes] = self._stream.readlines(*args, **kwargs)
        self._record.request_bytes += sum(len(line) for line in lines)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self._record.request_bytes += len(line)
            yield line

    def __getattr__(self, name: str) -> Any:
        # Anything else a server offers on its input (seek, fileno, ...) stays reachable;
        # AttributeError for what it lacks, exactly as bare.
        attribute = getattr(self._stream, name)
        if name not in _OPTIONAL:
            return attribute
        record = self._record
        counted = _count_into(attribute, record) if name in _INTO else _count_read(attribute, record)
        setattr(self, name, counted)
        return counted


def _count_read(read: Callable[..., bytes], record: RequestRecord) -> Callable[..., bytes]:
    def counted(*args: Any, **kwargs: Any) -> bytes:
        data = read(*args, **kwargs)
        record.request_bytes += len(data)
        return data

    return counted


def _count_into(readinto: Callable[..., int | None], record: RequestRecord) -> Callable[..., int | None]:
    def counted(*args: Any, **kwargs: Any) -> int | None:
        size = readinto(*args, **kwargs)
        # None: a non-blocking stream had nothing yet. The app gets the stream's answer as is.
        if size:
            record.request_bytes += size
        return size

    return counted
