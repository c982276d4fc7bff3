"""An exception as the span event the SDK's ``record_exception`` makes, for a tenth of its cost.

``traceback.format_exception`` on Python 3.11+ works out the ``^^^^`` markers under each line by
parsing the source of every frame: about 0.35 ms for the 15 frames of an exception raised in a
Starlette endpoint, nine tenths of ending that request's span. That CPU, spent on the server's
loop for every request that fails, made a loaded server lose the race with a keep-alive client
more often (issue 26). The text here is the interpreter's without the markers: the same frames,
lines, chained causes and contexts, and final line (an exception group's members are not
listed one by one).
"""

from __future__ import annotations

import traceback
from typing import Any

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
# Chained exceptions followed at most (the interpreter's own limit is a cycle check).
_MAX_CHAIN = 16


def exception_attributes(exception: BaseException) -> dict[str, Any]:
    """The attributes of the ``exception`` event, as the SDK's ``record_exception`` sets them."""
    kind = type(exception)
    module, name = kind.__module__, kind.__qualname__
    return {
        "exception.type": f"{module}.{name}" if module and module != "builtins" else name,
        "exception.message": str(exception),
        "exception.stacktrace": stacktrace(exception),
        "exception.escaped": "False",
    }


def stacktrace(exception: BaseException) -> str:
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exception
    link = ""
    while current is not None and id(current) not in seen and len(chain) < _MAX_CHAIN:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    parts: list[str] = []
    # The oldest first, as the interpreter prints them; each one's link says how it led on.
    for index in range(len(chain) - 1, -1, -1):
        error, link = chain[index]
        parts += _one(error)
        if index:
            parts.append(link)
    return "".join(parts)


def _one(error: BaseException) -> list[str]:
    lines: list[str] = []
    if error.__traceback__ is not None:
        lines.append("Traceback (most recent call last):\n")
        for frame in traceback.extract_tb(error.__traceback__):
            lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n')
            if frame.line:
                lines.append(f"    {frame.line.strip()}\n")
    lines += traceback.format_exception_only(type(error), error)
    return lines
