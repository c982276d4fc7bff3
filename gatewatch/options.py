"""Every option of gatewatch, declared once: a field of :class:`Options` carrying its type,
default, doc line and check (see :mod:`gatewatch._option_spec` for what derives from it).

An option's value comes from, in this order (the first that sets it wins):

1. the keyword argument given to ``GatewatchASGI`` / ``GatewatchWSGI`` (code);
2. the ``GATEWATCH_<OPTION>`` environment variable (what a deployer changes without code,
   as OpenTelemetry users set ``OTEL_*``): see :data:`ENVIRONMENT`;
3. Django's ``settings.GATEWATCH[<OPTION>]``, when the wrapped application is Django's (the
   project's settings then govern both layers; a keyword that contradicts a key the project
   set is an error at start-up, naming both);
4. the default below.

A bad value raises :class:`OptionError` (a ``ValueError``; a ``TypeError`` too for a value of
the wrong type) naming the option, the variable or the setting, and the value, when the
middleware is built, never per request.

The middlewares' keywords are typed by :class:`ASGIKeywords` / :class:`WSGIKeywords`, so a
type checker checks the code that builds them; the tests prove their keys are exactly these
fields and their types these fields' types (or what a field's ``convert`` turns into one).
"""

from __future__ import annotations

import difflib
import enum
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypedDict

from prometheus_client.registry import CollectorRegistry

from gatewatch import _option_checks as checks
from gatewatch._histogram import HistogramChoice, Series, histogram_choice
from gatewatch._option_spec import Declared, OptionError, OptionTypeError, declared, option

__all__ = [
    "DEFAULT",
    "ENVIRONMENT",
    "ASGIKeywords",
    "Declared",
    "Default",
    "OptionError",
    "OptionTypeError",
    "Options",
    "WSGIKeywords",
    "declared_options",
    "from_environment",
    "layered",
    "normalise",
    "option_keywords",
]


class Default(enum.Enum):
    """The keyword argument was left out (``None`` is a value: it turns things off)."""

    DEFAULT = "DEFAULT"


DEFAULT: Final = Default.DEFAULT
WSGI_QUEUE_HEADER: Final = "X-Request-Start"


# -- the declaration ---------------------------------------------------------------------

_OTEL_ONLY = "; only with `otel`"


@dataclass(frozen=True)
class Options:
    """The options in effect: one field per option, declared with :func:`option` (its doc,
    whether ``GATEWATCH_<NAME>`` may set it, its check); validated once, at construction."""

    registry: CollectorRegistry | None = option(
        None,
        environment=False,
        expects="a prometheus_client CollectorRegistry or None",
        default_doc="`None` (the global `REGISTRY`)",
        doc="prometheus-client registry to export into; middlewares on one registry share one collector",
    )
    max_routes: int = option(
        500,
        check=checks.routes,
        doc="distinct route labels before newcomers are `<other>`; the whole server's in multiprocess mode",
    )
    metrics_path: str | None = option(
        None,
        check=checks.path,
        default_doc='`None` (Django\'s middleware: `"/metrics"`)',
        doc="path answered with the Prometheus exposition (not recorded); found under a root path too",
    )
    cpu_time: bool = option(
        True,
        doc="thread CPU time (`time.thread_time()`) up to the end of the response, "
        "measured on each request with probability 1/8",
    )
    live_path: str | None = option(
        "/_gatewatch/live.json",
        check=checks.path,
        doc="path answered with the live view (not recorded); `None` turns it off",
    )
    live_token: str | None = option(
        None,
        check=checks.token,
        secret=True,
        doc="the HTTP live view answers only `Authorization: Bearer <token>`, loopback included; "
        "without it, nobody over HTTP (403): local users read the owner-only snapshot directory "
        "with `gatewatch top`",
    )
    side_address: str | None = option(
        None,
        check=checks.address,
        expects="[HOST:]PORT or None",
        doc="`[HOST:]PORT` (HOST 127.0.0.1 unless given) of a small HTTP server on a thread of "
        "its own answering `/metrics` and the live view (same token) while every worker is busy; "
        "under gunicorn, gatewatch's hooks run it in the arbiter, from `GATEWATCH_SIDE_ADDRESS`",
    )
    loop_lag_interval: float | None = option(
        0.1,
        check=checks.seconds,
        expects="a number of seconds or None",
        doc="seconds between event-loop lag samples; `None` turns the probe off",
    )
    block_threshold: float | None = option(
        0.05,
        check=checks.seconds,
        expects="a number of seconds or None",
        doc="a synchronous step longer than this (seconds) is a loop block, with its stack; "
        "`None` turns the watchdog off",
    )
    track_offload: bool = option(True, doc="count and time hand-offs to threads (asgiref, anyio)")
    # DEFAULT: X-Request-Start under WSGI; none under ASGI, where reading it means scanning
    # every request's headers.
    queue_time_header: str | Default | None = option(
        DEFAULT,
        check=checks.header,
        expects="a header name or None",
        default_doc="`X-Request-Start` under WSGI, `None` under ASGI",
        doc="header a proxy stamps with the time it forwarded the request",
    )
    worker_threads: int | None = option(
        None,
        check=checks.threads,
        doc="requests the process serves at once, when the server does not tell",
    )
    exclude_paths: tuple[str, ...] = option(
        (),
        check=checks.paths,
        convert=checks.to_tuple,
        expects="a sequence of paths",
        default_doc="none",
        doc="paths served untouched and never recorded; an entry ending in `*` is a prefix",
    )
    histograms: frozenset[str] | None = option(
        None,
        check=checks.histograms,
        convert=checks.to_frozenset,
        expects="a set of histogram names or None",
        default_doc="all",
        doc="histogram families to export, by catalogue key ([metrics.md](metrics.md))",
    )
    buckets: tuple[tuple[str, tuple[float, ...]], ...] = option(
        (),
        environment=False,
        check=checks.buckets,
        convert=checks.to_buckets,
        expects="a mapping of histogram name to boundaries",
        default_doc="the catalogue's",
        doc="bucket boundaries per histogram family, by catalogue key",
    )
    series: Series = option(
        "lean",
        check=checks.series,
        expects="'lean' or 'full'",
        doc="`lean`: the distributions of blocking, CPU, offload, first byte and after-response "
        "time for the whole server, their totals per route (at most 30 series per route and "
        "status); `full`: those histograms per route too "
        "([metrics.md](metrics.md#histograms-and-series-per-route))",
    )
    otel: bool = option(
        False,
        doc="OpenTelemetry: one SERVER span per request and per WebSocket session, and the "
        "catalogue's metrics (needs the `otel` extra)",
    )
    tracer_provider: Any = option(
        None,
        environment=False,
        check=checks.provider("get_tracer", "an OpenTelemetry TracerProvider"),
        expects="an OpenTelemetry TracerProvider or None",
        default_doc="`None` (the global one)",
        doc="an OpenTelemetry `TracerProvider` for the spans" + _OTEL_ONLY,
    )
    meter_provider: Any = option(
        None,
        environment=False,
        check=checks.provider("get_meter", "an OpenTelemetry MeterProvider"),
        expects="an OpenTelemetry MeterProvider or None",
        default_doc="`None` (the global one)",
        doc="an OpenTelemetry `MeterProvider` for the metrics" + _OTEL_ONLY,
    )
    otel_url_query: bool = option(
        False, doc="put the query string in the span's `url.query` (it may carry secrets)" + _OTEL_ONLY
    )
    otel_url_path: bool = option(
        False,
        doc="put the raw path in the span's `url.path` (it may carry personal data; the span name "
        "and `http.route` are the template either way)" + _OTEL_ONLY,
    )

    def __post_init__(self) -> None:
        for each in _DECLARED:
            value = getattr(self, each.name)
            # Normalised first: a list of paths is checked as the tuple it becomes.
            normalised = each.normalise(value)
            if normalised is not value:
                object.__setattr__(self, each.name, normalised)
            each.validate(normalised)
        # The checks between options.
        if self.live_path is not None and self.live_path == self.metrics_path:
            raise OptionError(f"live_path must differ from metrics_path, both are {self.live_path!r}")
        if self.live_token is not None and self.live_path is None:
            raise OptionError("live_token has no effect without live_path")

    def check_otel(self) -> None:
        """``ValueError`` for an OpenTelemetry option given without ``otel`` (checked on the
        whole set: one setting alone is checked without the others)."""
        if not self.otel:
            for name in ("tracer_provider", "meter_provider", "otel_url_query", "otel_url_path"):
                value = getattr(self, name)
                if value is not None and value is not False:
                    raise OptionError(f"{name} has no effect without otel=True")

    def histogram_choice(self) -> HistogramChoice:
        """The histogram families and buckets to export (``ValueError`` naming a bad one)."""
        return histogram_choice(self.histograms, dict(self.buckets), self.series)

    def queue_header(self, interface: str) -> str | None:
        """The queue-time header in effect for ``interface`` ("wsgi" or "asgi")."""
        header = self.queue_time_header
        if header is DEFAULT:
            return WSGI_QUEUE_HEADER if interface == "wsgi" else None
        return header


_DECLARED: Final = declared(Options)
_BY_NAME: Final = {each.name: each for each in _DECLARED}


def declared_options() -> tuple[Declared, ...]:
    """Every option as declared, in field order (name, default, spec, derived spellings)."""
    return _DECLARED


# -- the middlewares' keywords -------------------------------------------------------------
# What a caller may pass, typed for the type checker (a TypedDict cannot be made from the
# dataclass where mypy would see it). Each option's keyword is written once, in the class of
# the interfaces it applies to; tests/test_options.py proves the keys are Options' fields.


class _Keywords(TypedDict, total=False):
    registry: CollectorRegistry | None
    max_routes: int
    metrics_path: str | None
    cpu_time: bool
    live_path: str | None
    live_token: str | None
    side_address: str | None
    queue_time_header: str | None
    exclude_paths: Iterable[str]
    histograms: Iterable[str] | None
    buckets: Mapping[str, Sequence[float]]
    series: Series
    otel: bool
    tracer_provider: Any
    meter_provider: Any
    otel_url_query: bool
    otel_url_path: bool


class ASGIKeywords(_Keywords, total=False):
    """The options ``GatewatchASGI`` takes as keyword arguments."""

    loop_lag_interval: float | None
    block_threshold: float | None
    track_offload: bool


class WSGIKeywords(_Keywords, total=False):
    """The options ``GatewatchWSGI`` takes as keyword arguments."""

    worker_threads: int | None


KEYWORDS: Final[dict[str, frozenset[str]]] = {
    "asgi": ASGIKeywords.__optional_keys__,
    "wsgi": WSGIKeywords.__optional_keys__,
}


def option_keywords(owner: str, interface: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` (a middleware's ``**given``) when each is an option of ``interface``;
    ``TypeError`` as Python's own for an unexpected keyword, saying what it might be."""
    accepted = KEYWORDS[interface]
    for name in given:
        if name not in accepted:
            if name in _BY_NAME:
                hint = f" ({name} is an option of {' and '.join(_interfaces(name))} only)"
            else:
                close = difflib.get_close_matches(name, accepted, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"{owner}() got an unexpected keyword argument {name!r}{hint}")
    return dict(given)


def _interfaces(name: str) -> list[str]:
    return [interface.upper() for interface, names in KEYWORDS.items() if name in names]


# -- the environment ---------------------------------------------------------------------

# What a deployer can set without code, by variable (not the registry, the buckets or the
# OpenTelemetry providers: those are code).
ENVIRONMENT: Final = {
    each.environment_variable: each.name for each in _DECLARED if each.environment_variable is not None
}


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The options the ``GATEWATCH_*`` variables set; :class:`OptionError` naming a bad one."""
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for variable, name in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is None:
            continue
        each = _BY_NAME[name]
        try:
            value = each.parse(raw.strip())
            each.validate(value)
        except ValueError as exc:
            shown = "<hidden>" if each.spec.secret else repr(raw)
            raise OptionError(f"{variable}={shown}: {exc}") from None
        found[name] = value
    return found


# -- the layers --------------------------------------------------------------------------


def normalise(name: str, value: Any) -> Any:
    """``value`` as the dataclass holds it (a list of paths as a tuple, and so on)."""
    each = _BY_NAME.get(name)
    return value if each is None else each.normalise(value)


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
                key = _BY_NAME[name].django_key
                raise OptionError(
                    f"{name}={given[name]!r} conflicts with {project_source}['{key}'] = "
                    f"{value!r} of the project it wraps; leave {name} out (the project's setting "
                    "applies to both layers) or set the same value in both"
                )
    values: dict[str, Any] = {**(project or {}), **from_environment(environ)}
    values.update(given)
    result = Options(**values)
    result.check_otel()
    return result
