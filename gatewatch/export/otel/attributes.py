"""What a request says about itself on arrival, as OpenTelemetry's stable HTTP attributes, and
the carriers the global propagator reads W3C ``traceparent``/``tracestate`` from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.propagators.textmap import Getter

from gatewatch._labels import OTHER_METHOD
from gatewatch.types import Scope

Attributes = dict[str, Any]


def _server_from_host(attributes: Attributes, host: str) -> None:
    """``server.address`` and ``server.port`` from ``host[:port]`` of a Host header (IPv6 in
    brackets)."""
    if host.startswith("["):
        end = host.find("]")
        address, rest = host[1:end], host[end + 1 :]
    else:
        address, _, port_text = host.partition(":")
        rest = ":" + port_text if port_text else ""
    attributes["server.address"] = address
    if rest.startswith(":") and rest[1:].isdigit():
        attributes["server.port"] = int(rest[1:])


def _method(attributes: Attributes, label: str, original: str) -> None:
    attributes["http.request.method"] = label
    if label == OTHER_METHOD:
        attributes["http.request.method_original"] = original


def asgi_headers(scope: Scope) -> dict[str, str]:
    """The request headers by lower-case name (repeated ones joined with ``,``)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


def asgi_attributes(
    scope: Scope, method: str, headers: Mapping[str, str], *, url_query: bool, url_path: bool
) -> Attributes:
    attributes: Attributes = {"gatewatch.interface": "asgi"}
    _method(attributes, method, str(scope.get("method", "GET")))
    if url_path:
        attributes["url.path"] = scope.get("path", "")
    attributes["url.scheme"] = scope.get("scheme") or ("ws" if scope.get("type") == "websocket" else "http")
    if url_query:
        query = scope.get("query_string", b"")
        if query:
            attributes["url.query"] = query.decode("latin-1")
    version = scope.get("http_version")
    if version:
        attributes["network.protocol.version"] = version
    host = headers.get("host")
    if host:
        _server_from_host(attributes, host)
    else:
        server = scope.get("server")
        if server:
            attributes["server.address"] = str(server[0])
            if len(server) > 1 and server[1] is not None:
                attributes["server.port"] = int(server[1])
    client = scope.get("client")
    if client:
        attributes["client.address"] = str(client[0])
    agent = headers.get("user-agent")
    if agent:
        attributes["user_agent.original"] = agent
    return attributes


def environ_attributes(
    environ: Mapping[str, Any],
    method: str,
    *,
    interface: str,
    scheme: str | None,
    url_query: bool,
    url_path: bool,
) -> Attributes:
    """From a WSGI environ, or a Django ``request.META`` (both interfaces)."""
    attributes: Attributes = {"gatewatch.interface": interface}
    _method(attributes, method, str(environ.get("REQUEST_METHOD", "")))
    if url_path:
        attributes["url.path"] = (environ.get("SCRIPT_NAME", "") or "") + (environ.get("PATH_INFO", "") or "")
    attributes["url.scheme"] = scheme or environ.get("wsgi.url_scheme", "http")
    if url_query:
        query = environ.get("QUERY_STRING")
        if query:
            attributes["url.query"] = query
    protocol = environ.get("SERVER_PROTOCOL", "")
    if isinstance(protocol, str) and protocol.startswith("HTTP/"):
        attributes["network.protocol.version"] = protocol[5:]
    host = environ.get("HTTP_HOST")
    if host:
        _server_from_host(attributes, host)
    else:
        name, port_text = environ.get("SERVER_NAME"), str(environ.get("SERVER_PORT", ""))
        if name:
            attributes["server.address"] = name
            if port_text.isdigit():
                attributes["server.port"] = int(port_text)
    client = environ.get("REMOTE_ADDR")
    if client:
        attributes["client.address"] = client
    agent = environ.get("HTTP_USER_AGENT")
    if agent:
        attributes["user_agent.original"] = agent
    return attributes


def http_metric_attributes(
    interface: str,
    method: str,
    route: str | None,
    status: int,
    scheme: str | None,
    version: str | None,
    exception: str,
) -> dict[str, Any]:
    """The HTTP conventions' attributes of a request's ``http.server.*`` metrics."""
    attributes: dict[str, Any] = {"http.request.method": method, "gatewatch.interface": interface}
    if scheme is not None:
        attributes["url.scheme"] = scheme
    if route is not None:
        attributes["http.route"] = route
    if status:
        attributes["http.response.status_code"] = status
    if version is not None:
        attributes["network.protocol.version"] = version
    if exception:
        attributes["error.type"] = exception
    elif status >= 500:
        attributes["error.type"] = str(status)
    return attributes


class EnvironGetter(Getter[Mapping[str, Any]]):
    """Reads propagation headers from a WSGI environ or Django's ``request.META``."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]


ENVIRON_GETTER = EnvironGetter()
