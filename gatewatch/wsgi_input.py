"""``wsgi.input`` that counts the request body bytes the application really reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gatewatch.record import RequestRecord


class CountingInput:
    __slots__ = ("_record", "_stream")

    def __init__(self, stream: Any, record: RequestRecord) -> None:
        self._stream = stream
        self._record = record

    def read(self, *args: Any) -> bytes:
        data: bytes = self._stream.read(*args)
        self._record.request_bytes += len(data)
        return data

    def readline(self, *args: Any) -> bytes:
        line: bytes = self._stream.readline(*args)
        self._record.request_bytes += len(line)
        return line

    def readlines(self, *args: Any) -> list[bytes]:
        lines: list[bytes] = self._stream.readlines(*args)
        self._record.request_bytes += sum(len(line) for line in lines)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self._record.request_bytes += len(line)
            yield line

    def __getattr__(self, name: str) -> Any:
        # Anything else a server offers on its input (seek, fileno, ...) stays reachable.
        return getattr(self._stream, name)
