"""Strings from the app (routes, exception messages, stacks) written to a terminal or a log:
shown as data, never acted on.

A route is whatever the app's router calls it and an exception's message whatever the app put
in it; written raw, ``\\x1b[2J`` clears the operator's terminal and ``\\r\\n`` starts a forged
log line. :func:`printable` writes each control character as its escape; the ``gatewatch``
logger (:func:`gatewatch_logger`) does so for every string argument and exception of every
record, so no call site has to remember.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping

# C0, DEL and C1 controls, and the invisible characters that reorder what follows
# (bidirectional embeddings, overrides and isolates: "Trojan Source").
_DEL_C1_BIDI = "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x1f{_DEL_C1_BIDI}]")
_CONTROL_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_DEL_C1_BIDI}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    named = _NAMED.get(character)
    if named is not None:
        return named
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """``str(value)`` on one line with its control characters written as escapes (``\\x1b``)."""
    return _CONTROL.sub(_escape, str(value))


class Printed(str):
    """Text made printable already, line breaks kept on purpose (a stack, one frame a line):
    the logger's filter leaves it as it is."""

    __slots__ = ()

    @classmethod
    def lines(cls, lines: list[str], separator: str = "\n") -> Printed:
        return cls(separator.join(printable(line) for line in lines))


def printable_exception(exc: BaseException) -> str:
    """The traceback logging would print for ``exc`` (and its causes), each exception's message
    on one line with its controls escaped: a message cannot start a line of its own."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        raw = "".join(traceback.format_exception_only(type(current), current))
        text = text.replace(raw, printable(raw.removesuffix("\n")) + "\n")
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    # File names and source lines keep their line breaks; nothing else acts on the terminal.
    return _CONTROL_BUT_NEWLINE.sub(_escape, text).removesuffix("\n")


def _printable_argument(value: object) -> object:
    if isinstance(value, Printed):
        return value
    if isinstance(value, str | BaseException):
        return printable(value)
    return value


class PrintableRecords(logging.Filter):
    """Every string argument of a record, and its exception's text, printable (a format string
    is gatewatch's own, with the line breaks it means). The record's ``exc_info`` stays whole
    for handlers that read it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if not isinstance(record.msg, str):  # logger.error(exc): the message is the app's
                record.msg = printable(record.msg)
            if isinstance(record.args, Mapping):
                record.args = {key: _printable_argument(value) for key, value in record.args.items()}
            elif record.args:
                record.args = tuple(_printable_argument(value) for value in record.args)
            if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
                # logging.Formatter prints exc_text when it is set, instead of formatting again.
                record.exc_text = printable_exception(record.exc_info[1])
        except Exception:  # noqa: BLE001 - a log line is never worth an error in the app
            pass
        return True


def gatewatch_logger() -> logging.Logger:
    """The ``gatewatch`` logger, its records printable."""
    logger = logging.getLogger("gatewatch")
    if not any(isinstance(f, PrintableRecords) for f in logger.filters):
        logger.addFilter(PrintableRecords())
    return logger
