"""Read another thread's stack as it is now, trimmed to the application's part of it.

The loop watchdog calls this from its own thread while the event loop's thread is stuck
in a blocking call: ``sys._current_frames()`` is the one way to see that stack then.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import traceback
from types import FrameType

MAX_FRAMES = 30
# With no application frame in the stack (a library blocking in its own callback), keep
# this many innermost frames: where it blocks is what matters then.
FALLBACK_FRAMES = 12

_GATEWATCH_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


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
    """Code of the application: not the standard library, not an installed package, not gatewatch."""
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return False
    if "site-packages" in filename or "dist-packages" in filename:
        return False
    path = os.path.realpath(filename)
    if path.startswith(_GATEWATCH_DIR):
        return False
    return not path.startswith(_LIBRARY_PREFIXES)


def thread_stack(thread_id: int) -> list[str] | None:
    """The stack of thread ``thread_id`` right now, outermost first, trimmed; None if the
    thread is gone."""
    frame: FrameType | None = sys._current_frames().get(thread_id)
    if frame is None:
        return None
    return trimmed(traceback.extract_stack(frame))


def trimmed(stack: traceback.StackSummary) -> list[str]:
    """The application's innermost run of frames and everything it called, outermost first,
    as ``"file:line in function: source"`` lines: the server's, the event loop's and the
    framework's frames above the application say nothing about who blocked."""
    frames = list(stack)
    app = [is_application_file(frame.filename) for frame in frames]
    innermost = max((i for i, is_app in enumerate(app) if is_app), default=None)
    if innermost is None:
        kept = frames[-FALLBACK_FRAMES:]
    else:
        start = innermost
        while start > 0 and app[start - 1]:
            start -= 1
        kept = frames[start:]
    return [_format(frame) for frame in kept[-MAX_FRAMES:]]


def _format(frame: traceback.FrameSummary) -> str:
    source = f": {frame.line.strip()}" if frame.line else ""
    return f"{frame.filename}:{frame.lineno} in {frame.name}{source}"
