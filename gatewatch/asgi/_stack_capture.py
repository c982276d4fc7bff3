"""Read another thread's stack as it is now, split at the application's part of it.

The loop watchdog calls this from its own thread while the event loop's thread is stuck
in a blocking call: ``sys._current_frames()`` is the one way to see that stack then.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
import traceback
from types import FrameType

MAX_FRAMES = 30
# The frames above the application's (the server's, the loop's, the framework's) kept with it:
# enough for any server and framework; only a deep recursion loses its outermost frames.
MAX_OUTER_FRAMES = 100
# With no application frame in the stack (a library blocking in its own callback), keep
# this many innermost frames: where it blocks is what matters then.
FALLBACK_FRAMES = 12

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep
# gatewatch's own demo apps (gatewatch.demo, its apps shipped from examples/) are the
# application of a demo: a stack of theirs must open on their frames, not on gatewatch's.
_OWN_APPLICATION_DIRS = (os.path.join(_PACKAGE_DIR, "demo") + os.sep,)


def _library_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    prefixes = {
        os.path.realpath(paths[name]) + os.sep
        # "scripts": console entry points (bin/uvicorn, bin/gunicorn, bin/pytest).
        for name in ("stdlib", "platstdlib", "purelib", "platlib", "scripts")
        if paths.get(name)
    }
    return tuple(sorted(prefixes))


_LIBRARY_PREFIXES = _library_prefixes()


def is_application_file(filename: str) -> bool:
    """Code of the application: not the standard library, not an installed package, not gatewatch
    (but gatewatch's demo apps, which are a demo's application)."""
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return False
    path = os.path.realpath(filename)
    if path.startswith(_OWN_APPLICATION_DIRS):
        return True
    if "site-packages" in filename or "dist-packages" in filename:
        return False
    if path.startswith(_PACKAGE_DIR):
        return False
    return not path.startswith(_LIBRARY_PREFIXES)


class ReadStack(list[str]):
    """A stack as read, split: the list itself is the application's innermost run of frames and
    everything it called (innermost last); :attr:`outer` the frames above it, outermost first
    (``outer + stack`` is the whole stack read, but for a deep recursion's outermost frames);
    :attr:`site` the application's innermost frame as ``"file:line in function"``.

    A list, so that every sink's ``loop_block(route, duration, stack)`` reads it as before.
    """

    __slots__ = ("outer", "site")

    def __init__(self, lines: list[str], outer: list[str], site: str) -> None:
        super().__init__(lines)
        self.outer = outer
        self.site = site


def thread_stack(thread_id: int) -> ReadStack | None:
    """The stack of thread ``thread_id`` right now, outermost first, split; None if the
    thread is gone."""
    frame: FrameType | None = sys._current_frames().get(thread_id)
    if frame is None:
        return None
    return trimmed(traceback.extract_stack(frame))


def trimmed(stack: traceback.StackSummary) -> ReadStack:
    """The application's innermost run of frames and everything it called, outermost first,
    as ``"file:line in function: source"`` lines: the server's, the event loop's and the
    framework's frames above the application say nothing about who blocked (they are kept
    apart, in :attr:`ReadStack.outer`)."""
    frames = list(stack)
    app = [is_application_file(frame.filename) for frame in frames]
    innermost = max((i for i, is_app in enumerate(app) if is_app), default=None)
    if innermost is None:
        start = max(len(frames) - FALLBACK_FRAMES, 0)
        site_frame = frames[-1] if frames else None
    else:
        start = innermost
        while start > 0 and app[start - 1]:
            start -= 1
        site_frame = frames[innermost]
    # A run longer than MAX_FRAMES keeps its innermost frames; the rest go above it.
    start = max(start, len(frames) - MAX_FRAMES)
    return ReadStack(
        [_format(frame) for frame in frames[start:]],
        [_format(frame) for frame in frames[:start][-MAX_OUTER_FRAMES:]],
        "" if site_frame is None else _where(site_frame),
    )


def _where(frame: traceback.FrameSummary) -> str:
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


def _format(frame: traceback.FrameSummary) -> str:
    source = f": {frame.line.strip()}" if frame.line else ""
    return f"{_where(frame)}{source}"


_LINE = re.compile(r"(.+?:\d+ in [^:\s]+)(?:: .*)?", re.DOTALL)


def site_of(lines: list[str]) -> str:
    """The site of a stack given as lines only (not read here): its innermost line without its
    source, as :attr:`ReadStack.site` spells one when it can tell; ``""`` for no lines."""
    if not lines:
        return ""
    last = lines[-1]
    found = _LINE.fullmatch(last)
    return found[1] if found else last.strip()
