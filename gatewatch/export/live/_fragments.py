"""JSON kept between snapshots: each part of the live view is encoded once, when it is first
shown or after it changed, and every later snapshot joins the bytes.

A busy process's snapshot is 100 to 500 kB of JSON (200 finished requests, 300 seconds of totals
per interface, 600 lag samples, loop blocks with their stacks). Encoding it whole took 5 to 22 ms
of CPU per poll holding the GIL, so the event loop (or the WSGI worker) waited that long. Almost
none of it changes between two polls half a second apart: a finished request, a past second, a
lag sample or a loop block is described once here; a poll encodes what is new (a handful of
records and seconds) and joins the rest. The totals per route are parts of the same kind
(:mod:`gatewatch.export.live._totals`): a :class:`ChunkedParts` chunk per group of routes,
versioned by its changes.

New items are encoded in slices of :data:`SLICE`, offering the GIL between them
(:func:`yield_gil`). Nothing here runs on the request path: parts are keyed and versioned by
what the records and totals already hold (the record itself, a second's request count, a
chunk of routes' changes), so a request pays nothing.
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

_encoder = json.JSONEncoder(separators=(",", ":"))
# A chunk of ChunkedParts: its key, its version (compared with ==), and its parts.
Chunk = tuple[Hashable, object, Callable[[], list[object]]]
# Items encoded between two offers of the GIL (yield_gil): about 0.2 ms of work on a quiet core.
SLICE = 32


def yield_gil() -> None:
    """Let a thread waiting for the GIL (the event loop, when the view is built beside it) run
    now rather than after the interpreter's switch interval (5 ms): a view built in slices
    holds a waiting loop for one slice at most."""
    time.sleep(0)


def encode(value: object) -> bytes:
    """``value`` as compact JSON bytes (the encoding every part of the view uses)."""
    return _encoder.encode(value).encode()


def json_array(fragments: Iterable[bytes]) -> bytes:
    return b"[" + b",".join(fragments) + b"]"


class EncodedRing(Generic[T]):
    """A bounded ring of items that no longer change (finished requests, samples), each encoded
    once, and the ring's JSON array, joined again only when items were added.

    :meth:`append` is called under the owner's lock; :meth:`new_items` under the owner's lock
    inside its build lock, and :meth:`array` under the build lock (one build at a time).
    """

    def __init__(self, maxlen: int) -> None:
        self.items: deque[T] = deque(maxlen=maxlen)
        # Items ever appended: the request path adds its count per batch, nothing per item.
        self.added = 0
        self._encoded: deque[bytes] = deque(maxlen=maxlen)
        self._encoded_upto = 0
        self._array = b"[]"

    def append(self, item: T) -> None:
        self.items.append(item)
        self.added += 1

    def new_items(self) -> tuple[int, list[T]]:
        """How many items were ever added, and those not encoded yet (the newest, in order)."""
        items = self.items
        new = min(self.added - self._encoded_upto, len(items))
        return self.added, list(itertools.islice(items, len(items) - new, None)) if new else []

    def array(self, added: int, new: list[T], describe: Callable[[T], object]) -> bytes:
        """The ring as a JSON array once ``new`` (from :meth:`new_items`) is encoded."""
        if added != self._encoded_upto:
            for start in range(0, len(new), SLICE):
                if start:
                    yield_gil()
                self._encoded.extend(encode(describe(item)) for item in new[start : start + SLICE])
            self._encoded_upto = added
            self._array = json_array(self._encoded)
        return self._array


class ChunkedParts:
    """A JSON array of parts that may change (per-second totals), in chunks: a chunk is encoded
    again only when one of its parts changed version, so a poll re-encodes the current second's
    chunk and joins the others. One builder at a time (the caller's lock)."""

    def __init__(self) -> None:
        self._chunks: dict[Hashable, tuple[object, bytes]] = {}
        self._array = b"[]"

    def taken(self, key: Hashable, version: object, describe: Callable[[], list[object]]) -> Chunk:
        """Chunk ``key`` at ``version`` for :meth:`array`, its parts described now if it changed
        (else never): for parts read under a lock and encoded after it, one build at a time."""
        found = self._chunks.get(key)
        if found is not None and found[0] == version:
            return key, version, _unchanged
        return key, version, functools.partial(_given, describe())

    def array(self, chunks: Sequence[Chunk]) -> bytes:
        """``chunks``: in order, each chunk's key, version (compared with ``==``) and parts."""
        kept, used = self._chunks, {}
        encoded = []
        # Parts encoded since the GIL was last offered (yield_gil): a first build of many
        # parts (a thousand routes) must not hold a waiting event loop for all of it.
        done = 0
        for key, version, describe in chunks:
            found = kept.get(key)
            if found is None or found[0] != version:
                parts = describe()
                if done >= SLICE:
                    yield_gil()
                    done = 0
                done += len(parts)
                found = (version, b",".join(encode(part) for part in parts) if parts else b"")
            used[key] = found
            if found[1]:
                encoded.append(found[1])
        # The same chunks at the same versions: the array joined last time (hundreds of kB
        # with a thousand routes) is this one.
        if any(used[key] is not kept.get(key) for key in used) or list(used) != list(kept):
            self._array = json_array(encoded)
        self._chunks = used
        return self._array


def _given(parts: list[object]) -> list[object]:
    return parts


def _unchanged() -> list[object]:
    raise RuntimeError("a chunk kept unchanged was described again")
