"""Every option of gatewatch in one frozen dataclass, validated once, each default written once.

An option's value comes from, in this order (the first that sets it wins):

1. the keyword argument given to ``GatewatchASGI`` / ``GatewatchWSGI`` (code);
2. the ``GATEWATCH_<OPTION>`` environment variable (what a deployer changes without code,
   as OpenTelemetry users set ``OTEL_*``): see :data:`ENVIRONMENT`;
3. Django's ``settings.GATEWATCH[<OPTION>]``, when the wrapped application is Django's (the
   project's settings then govern both layers; a keyword that contradicts a key the project
   set is an error at start-up, naming both);
4. the default below.

A bad value raises ``TypeError`` / ``ValueError`` naming the option (or the variable, or the
setting) when the middleware is built, never per request.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from prometheus_client.registry import CollectorRegistry

from gatewatch._histogram import HistogramChoice, histogram_choice
from gatewatch._labels import check_max_routes
from gatewatch._request_queue import check_header


class Default(enum.Enum):
    """The keyword argument was left out (``None`` is a value: it turns things off)."""

    DEFAULT = "DEFAULT"


DEFAULT: Final = Default.DEFAULT
WSGI_QUEUE_HEADER: Final = "X-Request-Start"


@dataclass(frozen=True)
class Options:
    # The prometheus-client registry to export into (None: the global REGISTRY).
    registry: CollectorRegistry | None = None
    # At most this many distinct route labels; later newcomers are "<other>".
    max_routes: int = 500
    # gatewatch answers this path with the Prometheus exposition (None: it does not).
    metrics_path: str | None = None
    # Thread CPU time per request.
    cpu_time: bool = True
    # gatewatch answers this path with the live view (None: it does not).
    live_path: str | None = "/_gatewatch/live.json"
    # The HTTP live view answers only "Authorization: Bearer <token>" (None: it answers nobody;
    # local users read the owner-only snapshot directory with `gatewatch top`).
    live_token: str | None = None
    # How often the event-loop lag is sampled, seconds (None: no probe). ASGI.
    loop_lag_interval: float | None = 0.1
    # A synchronous step holding the loop longer than this is a loop block (None: no watchdog). ASGI.
    block_threshold: float | None = 0.05
    # Hand-offs to threads (asgiref, anyio) per request.
    track_offload: bool = True
    # The header a proxy stamps with the time it forwarded the request. DEFAULT: X-Request-Start
    # under WSGI; none under ASGI, where reading it means scanning every request's headers.
    queue_time_header: str | Default | None = DEFAULT
    # How many requests this WSGI process serves at once, when the server does not tell.
    worker_threads: int | None = None
    # Paths served untouched and never recorded: exact, or a prefix ending in "*".
    exclude_paths: tuple[str, ...] = ()
    # Histogram families to export, by catalogue key (None: all of them).
    histograms: frozenset[str] | None = None
    # Bucket boundaries per histogram family, by catalogue key (the others keep the catalogue's).
    buckets: tuple[tuple[str, tuple[float, ...]], ...] = field(default=())
    # OpenTelemetry: one SERVER span per request (and per WebSocket session) and the catalogue's
    # metrics, through the providers below (None: the global ones). Needs the `otel` extra.
    otel: bool = False
    # An opentelemetry TracerProvider / MeterProvider to use instead of the global one.
    tracer_provider: Any = None
    meter_provider: Any = None
    # Put the query string in the span's url.query (it may carry secrets: off by default).
    otel_url_query: bool = False
    # Put the raw path in the span's url.path: the span name and http.route are the route
    # template either way; a path may carry personal data (ids, e-mail addresses), so it is off.
    otel_url_path: bool = False

    def __post_init__(self) -> None:
        _check_types(self)
        check_max_routes(self.max_routes)
        for name in ("metrics_path", "live_path"):
            path = getattr(self, name)
            if path is not None and not path.startswith("/"):
                raise ValueError(f"{name} must start with '/', got {path!r}")
        if self.live_path is not None and self.live_path == self.metrics_path:
            raise ValueError(f"live_path must differ from metrics_path, both are {self.live_path!r}")
        if self.live_token is not None:
            token = self.live_token
            # It travels as "Authorization: Bearer <token>": anything a header would mangle
            # could never match, and the endpoint would refuse everyone without saying why.
            if not token or not token.isascii() or not token.isprintable() or " " in token:
                raise ValueError("live_token must be a non-empty string of printable ASCII without spaces")
            if self.live_path is None:
                raise ValueError("live_token has no effect without live_path")
        for name in ("loop_lag_interval", "block_threshold"):
            seconds = getattr(self, name)
            if seconds is not None and not 0.001 <= seconds <= 60:
                raise ValueError(f"{name} must be between 0.001 and 60 seconds, got {seconds!r}")
        if isinstance(self.queue_time_header, str):
            check_header("queue_time_header", self.queue_time_header)
        if self.worker_threads is not None and not 1 <= self.worker_threads <= 100_000:
            raise ValueError(f"worker_threads must be between 1 and 100000, got {self.worker_threads!r}")
        for path in self.exclude_paths:
            if not path.startswith("/"):
                raise ValueError(f"exclude_paths entries must start with '/', got {path!r}")
        for name, method in (("tracer_provider", "get_tracer"), ("meter_provider", "get_meter")):
            provider = getattr(self, name)
            if provider is None:
                continue
            if not callable(getattr(provider, method, None)):
                raise TypeError(f"{name} must be {_SPELLED[name]}, got {type(provider).__name__}")
        self.histogram_choice()

    def check_otel(self) -> None:
        """``ValueError`` for an OpenTelemetry option given without ``otel`` (checked on the
        whole set: one setting alone is checked without the others)."""
        if not self.otel:
            for name in ("tracer_provider", "meter_provider", "otel_url_query", "otel_url_path"):
                value = getattr(self, name)
                if value is not None and value is not False:
                    raise ValueError(f"{name} has no effect without otel=True")

    def histogram_choice(self) -> HistogramChoice:
        """The histogram families and buckets to export (``ValueError`` naming a bad one)."""
        return histogram_choice(self.histograms, dict(self.buckets))

    def queue_header(self, interface: str) -> str | None:
        """The queue-time header in effect for ``interface`` ("wsgi" or "asgi")."""
        header = self.queue_time_header
        if header is DEFAULT:
            return WSGI_QUEUE_HEADER if interface == "wsgi" else None
        return header


def _check_types(options: Options) -> None:
    for option in dataclasses.fields(options):
        value = getattr(options, option.name)
        expected = _TYPES[option.name]
        if not _is_instance(value, expected):
            raise TypeError(f"{option.name} must be {_SPELLED[option.name]}, got {type(value).__name__}")


def _is_instance(value: object, expected: tuple[type, ...]) -> bool:
    # bool is an int, but True is no route cap and no number of seconds.
    if isinstance(value, bool) and bool not in expected:
        return False
    if not isinstance(value, expected):
        return False
    # NaN or infinity is no number of seconds.
    return not (isinstance(value, float) and not math.isfinite(value))


_OPTION_NAMES: Final = tuple(option.name for option in dataclasses.fields(Options))
_NONE = type(None)
_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "registry": (CollectorRegistry, _NONE),
    "max_routes": (int,),
    "metrics_path": (str, _NONE),
    "cpu_time": (bool,),
    "live_path": (str, _NONE),
    "live_token": (str, _NONE),
    "loop_lag_interval": (int, float, _NONE),
    "block_threshold": (int, float, _NONE),
    "track_offload": (bool,),
    "queue_time_header": (str, _NONE, Default),
    "worker_threads": (int, _NONE),
    "exclude_paths": (tuple,),
    "histograms": (frozenset, _NONE),
    "buckets": (tuple,),
    "otel": (bool,),
    "tracer_provider": (object,),
    "meter_provider": (object,),
    "otel_url_query": (bool,),
    "otel_url_path": (bool,),
}
_SPELLED: Final = {
    "registry": "a prometheus_client CollectorRegistry or None",
    "max_routes": "an int",
    "metrics_path": "a str or None",
    "cpu_time": "a bool",
    "live_path": "a str or None",
    "live_token": "a str or None",
    "loop_lag_interval": "a number of seconds or None",
    "block_threshold": "a number of seconds or None",
    "track_offload": "a bool",
    "queue_time_header": "a header name or None",
    "worker_threads": "an int or None",
    "exclude_paths": "a sequence of paths",
    "histograms": "a set of histogram names or None",
    "buckets": "a mapping of histogram name to boundaries",
    "otel": "a bool",
    "tracer_provider": "an OpenTelemetry TracerProvider or None",
    "meter_provider": "an OpenTelemetry MeterProvider or None",
    "otel_url_query": "a bool",
    "otel_url_path": "a bool",
}


def normalise(name: str, value: Any) -> Any:
    """``value`` as the dataclass holds it: sequences and mappings the user may pass as lists,
    sets or dicts become tuples and frozensets (the options object is frozen and hashable)."""
    if name == "exclude_paths" and isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(value)
    if name == "histograms" and isinstance(value, (set, frozenset, list, tuple)):
        return frozenset(value)
    if name == "buckets" and isinstance(value, Mapping):
        try:
            return tuple(sorted((str(key), tuple(float(b) for b in bounds)) for key, bounds in value.items()))
        except (TypeError, ValueError):
            raise TypeError("buckets must map histogram names to sequences of numbers") from None
    return value


# -- the environment ---------------------------------------------------------------------

# What a deployer can set without code (not the registry, the buckets or the OpenTelemetry
# providers: those are code).
ENVIRONMENT: Final = {
    "GATEWATCH_MAX_ROUTES": "max_routes",
    "GATEWATCH_METRICS_PATH": "metrics_path",
    "GATEWATCH_CPU_TIME": "cpu_time",
    "GATEWATCH_LIVE_PATH": "live_path",
    "GATEWATCH_LIVE_TOKEN": "live_token",
    "GATEWATCH_LOOP_LAG_INTERVAL": "loop_lag_interval",
    "GATEWATCH_BLOCK_THRESHOLD": "block_threshold",
    "GATEWATCH_TRACK_OFFLOAD": "track_offload",
    "GATEWATCH_QUEUE_TIME_HEADER": "queue_time_header",
    "GATEWATCH_WORKER_THREADS": "worker_threads",
    "GATEWATCH_EXCLUDE_PATHS": "exclude_paths",
    "GATEWATCH_HISTOGRAMS": "histograms",
    "GATEWATCH_OTEL": "otel",
    "GATEWATCH_OTEL_URL_QUERY": "otel_url_query",
    "GATEWATCH_OTEL_URL_PATH": "otel_url_path",
}
_OFF = frozenset({"", "none", "off"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The options the ``GATEWATCH_*`` variables set; ``ValueError`` naming a bad one."""
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for variable, name in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is None:
            continue
        try:
            found[name] = _parse(name, raw.strip())
        except ValueError as exc:
            raise ValueError(f"{variable}={raw!r}: {exc}") from None
    return found


def _parse(name: str, text: str) -> Any:
    expected = _TYPES[name]
    if bool in expected:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError("must be true or false")
    if _NONE in expected and text.lower() in _OFF:
        return None
    if int in expected and float not in expected:
        try:
            return int(text)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if float in expected:
        try:
            return float(text)
        except ValueError:
            raise ValueError("must be a number of seconds, or off") from None
    if name in ("exclude_paths", "histograms"):
        parts = [part.strip() for part in text.split(",") if part.strip()]
        return tuple(parts) if name == "exclude_paths" else frozenset(parts)
    return text


# -- the layers --------------------------------------------------------------------------


def keyword_options(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A middleware's keyword arguments (its ``locals()`` on entry) that are options."""
    return {name: arguments[name] for name in _OPTION_NAMES if name in arguments}


def layered(
    explicit: Mapping[str, Any],
    *,
    project: Mapping[str, Any] | None = None,
    project_source: str = "settings.GATEWATCH",
    environ: Mapping[str, str] | None = None,
) -> Options:
    """The options in effect: ``explicit`` keywords (``DEFAULT`` = left out), over the
    environment, over ``project`` (the framework's settings, keyed by option name), over the
    defaults. A keyword that contradicts a project setting raises ``ValueError`` naming both."""
    given = {name: normalise(name, value) for name, value in explicit.items() if value is not DEFAULT}
    if project:
        for name, value in project.items():
            if name in given and given[name] != value:
                raise ValueError(
                    f"{name}={given[name]!r} conflicts with {project_source}['{name.upper()}'] = "
                    f"{value!r} of the project it wraps; leave {name} out (the project's setting "
                    "applies to both layers) or set the same value in both"
                )
    values: dict[str, Any] = {**(project or {}), **from_environment(environ), **given}
    options = Options(**values)
    options.check_otel()
    return options
