"""A WSGI app whose ``/hold`` requests hold their worker until the test lets them go: each
marks that it is inside (``held-<pid>-<thread>`` in ``$SIDE_TEST_DIR``), then reads one byte
from the FIFO ``$SIDE_TEST_DIR/release``, which the test writes once every worker is held.
No clock decides anything."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

from gatewatch import GatewatchWSGI
from gatewatch.types import Environ, StartResponse


def hold_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/hold":
        directory = os.environ["SIDE_TEST_DIR"]
        marker = os.path.join(directory, f"held-{os.getpid()}-{threading.get_ident()}")
        with open(marker, "w"):
            pass
        fd = os.open(os.path.join(directory, "release"), os.O_RDONLY)
        try:
            os.read(fd, 1)
        finally:
            os.close(fd)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


wrapped = GatewatchWSGI(hold_app)
