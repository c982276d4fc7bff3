"""Which server is serving this process, for ``gatewatch_info``'s ``server`` label.

Read from the running server, never from what is imported: prometheus-client imports
``wsgiref``, and an app module may import uvicorn (to run itself) while hypercorn or granian
serves it. Decided once per process and interface, at the first request (or lifespan
scope), from what the server hands over or from the frames that called the application:

- WSGI: ``SERVER_SOFTWARE`` in the environ (gunicorn, waitress, granian, wsgiref say who
  they are), or a server's own environ key (mod_wsgi, uWSGI);
- then the calling frames, innermost first: the first one in a known server's package
  names it, its middleware aside (gunicorn's UvicornWorker runs uvicorn's protocol, so
  uvicorn; granian calls the application from its own worker's frames);
- then the process's entry point (``python -m hypercorn``, the ``uvicorn`` script);
- else ``unknown``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from types import FrameType
from typing import Any, Final

# Top-level packages of the servers gatewatch names, as the label spells them.
KNOWN: Final = frozenset(
    ("uvicorn", "hypercorn", "daphne", "granian", "gunicorn", "waitress", "wsgiref", "cheroot")
)
# SERVER_SOFTWARE prefixes (lower case) of the servers that send one.
_SOFTWARE: Final = (
    ("gunicorn", "gunicorn"),
    ("waitress", "waitress"),
    ("granian", "granian"),
    ("wsgiserver", "wsgiref"),  # wsgiref.simple_server: "WSGIServer/0.2"
    ("werkzeug", "werkzeug"),
    ("cheroot", "cheroot"),
)
# Servers written in C, seen by a key of their own in the environ.
_ENVIRON_KEYS: Final = (
    ("mod_wsgi.version", "mod_wsgi"),
    ("uwsgi.version", "uwsgi"),
    ("bjoern.version", "bjoern"),
)
UNKNOWN: Final = "unknown"


def wsgi_server(environ: Mapping[str, Any]) -> str:
    """The WSGI server that passed ``environ`` (called from the application's call)."""
    software = environ.get("SERVER_SOFTWARE")
    if isinstance(software, str):
        lowered = software.lower()
        for prefix, name in _SOFTWARE:
            if lowered.startswith(prefix):
                return name
    for key, name in _ENVIRON_KEYS:
        if key in environ:
            return name
    return calling_server()


def calling_server() -> str:
    """The server whose frames called this one.

    The walk starts at the caller's frame, whoever it is: gatewatch's own frames on the way
    are no server's. A caller never hands over a frame of its own choosing: compiled, the
    middleware's functions have no frames, so the one "above" theirs is already the server's
    caller (or nothing, under granian's WSGI), and a depth counted in the source is wrong.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__")
        if isinstance(module, str):
            top = module.partition(".")[0]
            # A server's middleware (uvicorn's proxy headers) may wrap an app another serves.
            if top in KNOWN and ".middleware" not in module:
                return top
        frame = frame.f_back
    return entry_point()


def entry_point() -> str:
    """The server this process was started as (``python -m granian``, the ``uvicorn`` script)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    names = [getattr(spec, "name", None) or ""]
    if sys.argv and sys.argv[0]:
        names.append(os.path.basename(sys.argv[0]))
    for name in names:
        top = name.partition(".")[0].lower()
        if top in KNOWN:
            return top
    return UNKNOWN
