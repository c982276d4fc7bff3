"""System checks: ``manage.py check`` (and the middleware at start-up) report bad set-ups by id.

- ``gatewatch.E001``-``E007``, ``E009``: a bad ``settings.GATEWATCH`` (see :mod:`.options`).
- ``gatewatch.E008``: ``WSGI_APPLICATION`` / ``ASGI_APPLICATION`` wraps the project in
  ``GatewatchWSGI`` / ``GatewatchASGI`` with a keyword that contradicts ``GATEWATCH`` (the
  server would refuse to start; ``manage.py check`` says so first).
- ``gatewatch.W001``: the middleware is not first in ``MIDDLEWARE``, so the time the
  middleware before it take is not measured and their exceptions are not seen.
- ``gatewatch.W002``: the project serves ASGI and lists sync-only middleware; Django
  runs each of them in a thread, a hand-off (or two) on every request.
- ``gatewatch.I001``: under ASGI, middleware built on Django's ``MiddlewareMixin`` whose
  ``process_request`` / ``process_response`` hooks are sync; the mixin runs each hook in
  a thread (Django's own middleware are like this: usually the price, not a mistake).
- ``gatewatch.W003``: the project's URLconf routes ``metrics_path`` or ``live_path`` to a view
  of its own, so gatewatch does not answer there.
- ``gatewatch.I002``-``I004``: the optional steps after the MIDDLEWARE line not taken yet, each
  with what it adds: including ``gatewatch.integrations.django.urls``, wrapping ``wsgi.py`` in
  ``GatewatchWSGI``, wrapping ``asgi.py`` in ``GatewatchASGI``.

Django runs the checks of installed apps and of modules already imported: ``manage.py check``
never imports ``MIDDLEWARE``, so with the MIDDLEWARE line alone these run only once
``gatewatch.integrations.django`` is in ``INSTALLED_APPS`` (the middleware logs that step at start-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from gatewatch import catalogue
from gatewatch._printable import gatewatch_logger
from gatewatch.integrations._serving_server import calling_server
from gatewatch.integrations.django.options import SETTING, read_settings
from gatewatch.runtime import Runtime

logger = gatewatch_logger()

TAG = "gatewatch"
_HOPS = catalogue.metric("thread_hops").name
MIDDLEWARE_PATH = "gatewatch.integrations.django.GatewatchMiddleware"
APP = "gatewatch.integrations.django"
_MIDDLEWARE_PATHS = (MIDDLEWARE_PATH, "gatewatch.integrations.django.middleware.GatewatchMiddleware")


def register_checks() -> None:
    # Django's registry keeps a set: registering again (each middleware built) changes nothing.
    checks.register(check_settings, TAG)
    checks.register(check_middleware_order, TAG)
    checks.register(check_sync_middleware, TAG)
    checks.register(check_sync_hooks, TAG)
    checks.register(check_entry_points, TAG)
    from gatewatch.integrations.django._steps import check_optional_steps, check_pages

    checks.register(check_pages, TAG)
    checks.register(check_optional_steps, TAG)


def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    _, problems = read_settings(getattr(settings, SETTING, None))
    return [checks.Error(p.message, hint=p.hint, obj=p.key, id=p.id) for p in problems]


def check_middleware_order(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    positions = [i for i, path in enumerate(middleware) if path in _MIDDLEWARE_PATHS]
    if not positions or positions[0] == 0:
        return []
    before = ", ".join(middleware[: positions[0]])
    return [
        checks.Warning(
            f"{MIDDLEWARE_PATH} is not first in MIDDLEWARE; it comes after {before}.",
            hint="Put it first so it sees the time and the exceptions of every middleware.",
            obj="MIDDLEWARE",
            id="gatewatch.W001",
        )
    ]


def check_sync_middleware(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    if not serves_asgi():
        return []
    sync_only = [
        path for path, middleware in _middleware_classes() if not getattr(middleware, "async_capable", False)
    ]
    if not sync_only:
        return []
    return [
        checks.Warning(
            f"Under ASGI, these middleware are sync-only and run in a thread on every request: "
            f"{', '.join(sync_only)}.",
            hint=f"Each one is a thread hand-off per request (see {_HOPS}). "
            "Make them async-capable (sync_capable = async_capable = True) or drop them.",
            obj="MIDDLEWARE",
            id="gatewatch.W002",
        )
    ]


def check_sync_hooks(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not serves_asgi():
        return []
    hooked = []
    for path, middleware in _middleware_classes():
        hooks = _sync_mixin_hooks(middleware)
        if hooks:
            hooked.append(f"{path} ({', '.join(hooks)})")
    if not hooked:
        return []
    return [
        checks.Info(
            f"Under ASGI, these middleware hooks are sync and each runs in a thread on every "
            f"request: {'; '.join(hooked)}.",
            hint=f"Each is a thread hand-off per request ({_HOPS}).",
            obj="MIDDLEWARE",
            id="gatewatch.I001",
        )
    ]


def check_entry_points(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Build the project's wrapped entry points as the servers would, to find a keyword of
    the outer middleware that contradicts ``settings.GATEWATCH`` before a server does."""
    errors: list[checks.CheckMessage] = []
    for setting in ("WSGI_APPLICATION", "ASGI_APPLICATION"):
        path = getattr(settings, setting, None)
        if not isinstance(path, str) or not path:
            continue
        try:
            import_string(path)
        except ValueError as exc:
            if "conflicts with settings.GATEWATCH" in str(exc):
                errors.append(
                    checks.Error(
                        f"{setting} ({path}): {exc}",
                        hint="Leave the keyword out of GatewatchWSGI/GatewatchASGI: the project's "
                        "GATEWATCH setting applies to both layers.",
                        obj=setting,
                        id="gatewatch.E008",
                    )
                )
        except Exception:  # noqa: BLE001 - Django and the server report what else fails there
            continue
    return errors


def _middleware_classes() -> list[tuple[str, Any]]:
    """``(path, middleware)`` of every ``MIDDLEWARE`` entry that imports; Django's own
    start-up reports a missing one far more clearly."""
    found = []
    for path in getattr(settings, "MIDDLEWARE", None) or ():
        try:
            found.append((path, import_string(path)))
        except ImportError:
            continue
    return found


def _sync_mixin_hooks(middleware: Any) -> list[str]:
    from django.utils.deprecation import MiddlewareMixin

    if not (isinstance(middleware, type) and issubclass(middleware, MiddlewareMixin)):
        return []
    return [
        hook
        for hook in ("process_request", "process_response")
        if (method := getattr(middleware, hook, None)) is not None and not iscoroutinefunction(method)
    ]


def serves_asgi() -> bool:
    """Whether this project runs under ASGI: Channels' ``ASGI_APPLICATION`` is set,
    or an ASGI server loaded this process."""
    return bool(getattr(settings, "ASGI_APPLICATION", None)) or calling_server() != "unknown"


def run_at_startup(runtime: Runtime) -> None:
    """Log the warnings once per process (``runtime``): servers such as gunicorn and uvicorn
    never run ``manage.py check``. Errors are raised by the middleware itself."""
    if not runtime.first_time("django.startup_checks"):
        return
    silenced = set(getattr(settings, "SILENCED_SYSTEM_CHECKS", ()) or ())
    for message in (*check_middleware_order(), *check_sync_middleware()):
        if message.id not in silenced:
            logger.warning("%s: %s %s", message.id, message.msg, message.hint or "")
    if APP not in (getattr(settings, "INSTALLED_APPS", None) or ()):
        # manage.py check never imports MIDDLEWARE: the app is what makes it speak.
        logger.info(
            "gatewatch: %s records every request and answers /metrics (METRICS_PATH) and the "
            "live view. Optional: add %r to INSTALLED_APPS for its system checks; `manage.py "
            "check` then lists the other optional steps, one line each with what it adds.",
            MIDDLEWARE_PATH,
            APP,
        )
