"""Exceptions Django turns into 500 pages, seen through its ``got_request_exception`` signal.

Django catches a view's exception and answers with an error page, so the outer
middleware never sees it raised; the signal fires while the exception is being handled.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.signals import got_request_exception

from gatewatch.record import current_record

_DISPATCH_UID = "gatewatch.integrations.django.exceptions"


def connect() -> None:
    """Listen for unhandled exceptions; safe to call more than once."""
    got_request_exception.connect(_on_exception, dispatch_uid=_DISPATCH_UID)


def _on_exception(sender: Any, request: Any = None, **kwargs: Any) -> None:
    record = current_record.get()
    exception = sys.exc_info()[1]
    if record is not None and exception is not None:
        record.exception = exception
