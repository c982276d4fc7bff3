"""Django in one line (issue 26 item 9): ``GatewatchMiddleware`` first in ``MIDDLEWARE`` and
nothing else (``tests/support/django_one_line``: no app, no URLconf entry, plain ``wsgi.py``
and ``asgi.py``) records every request and answers ``/metrics`` under real servers, and each
further step is optional: ``manage.py check`` lists the ones not taken, with what each adds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse
from django.test import Client
from pytest_django.fixtures import Settings

from gatewatch import GatewatchWSGI
from gatewatch._multiprocess_dir import ENV_VAR
from gatewatch.demo.servers import ServerProcess, free_port, gunicorn_command, uvicorn_command
from gatewatch.integrations.django._steps import check_optional_steps, check_pages
from gatewatch.integrations.django.middleware import GatewatchMiddleware
from gatewatch.runtime import Runtime
from tests.support.django_support import django_registry
from tests.support.traffic import ROOT, Key, duration_counts, gunicorn_config, scrape_until
from tests.support.wsgi_driver import call, make_environ

__all__ = ["django_registry"]

PROJECT = "tests.support.django_one_line"
ITEM = "/items/<int:pk>/"
LIVE = "/_gatewatch/live.json"
# Every request counted under its route template (the ready probe's /health/ aside: on a
# loaded machine a probe that timed out may still be served, so it is counted apart).
TRAFFIC = [*(f"/items/{n}/" for n in range(6)), "/async/", "/async/", "/nope/"]
EXPECTED = {
    ("GET", ITEM, "200"): 6,
    ("GET", "/async/", "200"): 2,
    ("GET", "<unmatched>", "404"): 1,
}


def clean_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWATCH_")}
    env.pop(ENV_VAR, None)
    env["DJANGO_SETTINGS_MODULE"] = f"{PROJECT}.settings"
    return env


def serve_and_scrape(server: ServerProcess, interface: str) -> str:
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        for path in TRAFFIC:
            client.get(path)
        # Before the fix: 404 with no hint. gatewatch's live view answers too (how it
        # authorises is the live view's own business; here only that the path is served).
        assert client.get(LIVE).status_code != 404
    # Generous: a WSGI record ends when the response is closed, after the client has it.
    return scrape_until(
        server.base_url, lambda text: traffic_counts(text, interface) == EXPECTED, timeout=30.0
    )


def traffic_counts(text: str, interface: str) -> dict[Key, int]:
    """The counts of the traffic; the ready probe was served (and counted) at least once."""
    counts = duration_counts(text, interface)
    assert counts.pop(("GET", "/health/", "200")) >= 1
    return counts


@pytest.mark.slow
def test_gunicorn_counts_every_request_and_answers_metrics(tmp_path: Path) -> None:
    """gunicorn sync, two workers with the documented hooks (the multiprocess set-up)."""
    port = free_port()
    config = gunicorn_config(tmp_path)
    command = gunicorn_command(f"{PROJECT}.wsgi:application", port, "-w", "2", "-c", str(config))
    with ServerProcess(
        command, port=port, ready_path="/health/", env=clean_env(), cwd=ROOT, log_path=tmp_path / "log"
    ) as server:
        text = serve_and_scrape(server, "wsgi")
    # Exactly the traffic: gatewatch's own pages (the scrapes, the live view) are not in it.
    assert traffic_counts(text, "wsgi") == EXPECTED
    assert 'gatewatch_info{interface="wsgi",server="gunicorn"' in text


@pytest.mark.slow
def test_uvicorn_counts_every_request_and_answers_metrics(tmp_path: Path) -> None:
    port = free_port()
    command = uvicorn_command(f"{PROJECT}.asgi:application", port)
    with ServerProcess(
        command, port=port, ready_path="/health/", env=clean_env(), cwd=ROOT, log_path=tmp_path / "log"
    ) as server:
        text = serve_and_scrape(server, "asgi")
    assert traffic_counts(text, "asgi") == EXPECTED
    assert 'gatewatch_info{interface="asgi",server="uvicorn"' in text


@pytest.mark.slow
def test_gunicorn_workers_without_a_shared_directory_refuse_to_boot(tmp_path: Path) -> None:
    """Each worker would count and scrape alone: the worker does not boot, saying how to fix it
    (before: it served, logged a traceback per request and answered 404 at /metrics)."""
    port = free_port()
    log = tmp_path / "log"
    command = gunicorn_command(f"{PROJECT}.wsgi:application", port, "-w", "2")
    with (
        # gunicorn's master exits 3 ("Worker failed to boot") or 1, as its two workers' deaths
        # race; either way it stopped, and the log says why.
        pytest.raises(RuntimeError, match=r"exited with [13]:"),
        ServerProcess(command, port=port, ready_path="/health/", env=clean_env(), cwd=ROOT, log_path=log),
    ):
        pass
    assert (
        "ValueError: gunicorn runs 2 workers but PROMETHEUS_MULTIPROC_DIR is not set, so each scrape "
        "would show one worker's numbers; start gunicorn with -c gunicorn.conf.py containing "
        "`from gatewatch.integrations.gunicorn import *`"
    ) in log.read_text()


def manage_check(settings_module: str) -> str:
    env = {**clean_env(), "DJANGO_SETTINGS_MODULE": settings_module}
    done = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout + done.stderr


def test_manage_check_lists_the_optional_steps() -> None:
    # MIDDLEWARE alone: Django never imports it in `check`, so gatewatch cannot speak there;
    # the middleware says at start-up that the app makes it speak (tested below).
    assert "gatewatch" not in manage_check(f"{PROJECT}.settings")
    listed = manage_check(f"{PROJECT}.settings_app")
    lines = [line for line in listed.splitlines() if "(gatewatch." in line]
    assert [line.split(" ", 2)[1] for line in lines] == [
        "(gatewatch.I004)",
        "(gatewatch.I002)",
        "(gatewatch.I003)",
    ]
    assert "include('gatewatch.integrations.django.urls')" in listed
    assert f"GatewatchWSGI(get_wsgi_application()) in {PROJECT}.wsgi adds" in listed
    assert f"GatewatchASGI(get_asgi_application()) in {PROJECT}.asgi" in listed
    # Every step taken (the example project): nothing more to suggest.
    taken = manage_check("examples.django_project.settings")
    assert not [step for step in ("I002", "I003", "I004") if f"(gatewatch.{step})" in taken]


@pytest.fixture
def one_line(settings: Settings, django_registry: object) -> Settings:
    settings.ROOT_URLCONF = f"{PROJECT}.urls"
    settings.INSTALLED_APPS = []
    settings.WSGI_APPLICATION = f"{PROJECT}.wsgi.application"
    settings.ASGI_APPLICATION = None
    return settings


def test_start_up_names_the_app_step(
    one_line: Settings, caplog: pytest.LogCaptureFixture, runtime: Runtime
) -> None:
    caplog.set_level("INFO", logger="gatewatch")
    # The middleware Django builds, with a runtime of the test's own (its first start-up).
    GatewatchMiddleware(lambda request: HttpResponse(b"ok"), runtime=runtime)
    assert "Optional: add 'gatewatch.integrations.django' to INSTALLED_APPS" in caplog.text


def test_mounted_urls_are_not_served_twice(one_line: Settings) -> None:
    one_line.ROOT_URLCONF = f"{PROJECT}.urls_mounted"
    client = Client()
    assert client.get("/ops/metrics").status_code == 200
    # The URLconf serves the page: the middleware does not answer at its default too.
    assert client.get("/metrics").status_code == 404
    assert "gatewatch.I002" not in [message.id for message in check_optional_steps()]


def test_the_projects_own_metrics_view_is_left_alone(
    one_line: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    one_line.ROOT_URLCONF = f"{PROJECT}.urls_own_metrics"
    response = Client().get("/metrics")
    assert response.content == b"the project's own metrics"
    expected = (
        "gatewatch does not answer /metrics (metrics_path): the project's URLconf routes it to "
        f"{PROJECT}.urls_own_metrics.own_metrics."
    )
    assert expected in caplog.text
    [warning] = check_pages()
    assert warning.id == "gatewatch.W003"
    assert warning.msg.startswith(expected)


def test_metrics_path_moves_or_turns_off_the_page(one_line: Settings) -> None:
    one_line.GATEWATCH = {**one_line.GATEWATCH, "METRICS_PATH": "/ops/scrape"}
    client = Client()
    assert client.get("/ops/scrape").status_code == 200
    assert client.get("/metrics").status_code == 404
    one_line.GATEWATCH = {**one_line.GATEWATCH, "METRICS_PATH": None}
    assert Client().get("/ops/scrape").status_code == 404


@pytest.mark.usefixtures("one_line")
def test_behind_the_outer_middleware_the_page_is_answered_once_and_unrecorded() -> None:
    """wsgi.py wrapped (a later optional step): the outer middleware leaves /metrics to the
    Django middleware, which answers it; only the project's request is counted."""
    wrapped = GatewatchWSGI(get_wsgi_application())
    assert call(wrapped, make_environ("/items/3/", HTTP_HOST="localhost")).status.startswith("200")
    response = call(wrapped, make_environ("/metrics", HTTP_HOST="localhost"))
    assert response.status.startswith("200")
    assert duration_counts(response.body.decode(), "wsgi") == {("GET", ITEM, "200"): 1}
