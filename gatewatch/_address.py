"""``[HOST:]PORT`` as the side server's option spells it (:mod:`gatewatch.export.side_server`)."""

from __future__ import annotations

import ipaddress

DEFAULT_HOST = "127.0.0.1"


def parse_address(value: str) -> tuple[str, int]:
    """``"9464"``, ``"0.0.0.0:9464"`` or ``"[::1]:9464"`` as (host, port); the host is loopback
    unless given, and must be an IP address (a name could resolve anywhere). ValueError
    saying what is wrong."""
    text = value.strip()
    host, separator, port_text = text.rpartition(":")
    if not separator:
        host, port_text = DEFAULT_HOST, text
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"expected [HOST:]PORT with HOST an IP address (such as 127.0.0.1), got {value!r}"
        ) from None
    # 0: a port the system picks (tests; gunicorn's hook logs the one it got).
    if not (port_text.isascii() and port_text.isdigit() and 0 <= int(port_text) <= 65535):
        raise ValueError(f"expected [HOST:]PORT with PORT between 0 and 65535, got {value!r}")
    return host, int(port_text)
