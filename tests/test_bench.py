"""``python -m bench --quick`` runs every contender and prints a row for each (no timing asserted)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest

# The contenders come from the bench extra; without it there is nothing to compare.
for _module in ("starlette_exporter", "opentelemetry.instrumentation.asgi", "django_prometheus"):
    pytest.importorskip(_module, reason="make bench needs the bench extra: pip install -e '.[bench]'")

from bench.cases import ASGI_NAMES, WSGI_NAMES  # noqa: E402
from bench.django_cases import DJANGO_WSGI_NAMES  # noqa: E402
from tests.support.traffic import ROOT  # noqa: E402


def _rows(section: str) -> list[str]:
    """The table rows of one section: the lines after its dashed rule."""
    lines = [line.strip() for line in section.splitlines() if line.strip()]
    rule = next(index for index, line in enumerate(lines) if line.startswith("----"))
    return lines[rule + 1 :]


def test_bench_quick_prints_every_row() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-server"],
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        encoding="utf-8",
        timeout=100,
    )
    print(completed.stdout, completed.stderr)
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    # Every section, in this order; each ends where the next begins.
    starts = [
        out.index(heading)
        for heading in (
            "\nASGI:",
            "\nWSGI:",
            "\noverhead =",
            "\nDjango under WSGI:",
            "\nDjango: overhead =",
            "\nWebSocket:",
        )
    ]
    assert starts == sorted(starts)
    asgi, wsgi, _, django, _ = (out[start:end] for start, end in itertools.pairwise(starts))
    assert "vs django-prometheus" in django
    for section, names in ((asgi, ASGI_NAMES), (wsgi, WSGI_NAMES), (django, DJANGO_WSGI_NAMES)):
        rows = _rows(section)
        assert len(rows) == len(names), rows
        for row, name in zip(rows, names, strict=True):
            assert row.startswith(name), (row, name)
            numbers = row[len(name) :].split()
            # µs/request, overhead, vs floor (or vs django-prometheus), spread, batch
            assert len(numbers) == 5, row
            assert float(numbers[0]) > 0, row
    websocket = out[starts[-1] :]
    for mode in ("inline", "loop"):
        assert f"{mode}: gatewatch" in websocket and f"{mode}: bare" in websocket


@pytest.mark.slow
def test_server_bench_quick_serves_every_contender() -> None:
    """The server-level part (real uvicorn and gunicorn, wrk): every contender answers and gets
    a row with both measures; the numbers of a one-second quick run are not a measurement."""
    import shutil

    from bench.server_apps import ASGI_CONTENDERS, WSGI_CONTENDERS

    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (Debian: apt-get install wrk)")
    completed = subprocess.run(
        [sys.executable, "-m", "bench.server_bench", "--quick"],
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        encoding="utf-8",
        timeout=120,
    )
    print(completed.stdout, completed.stderr)
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert out.startswith("Machine: ") and " CPUs, Python " in out.splitlines()[0], out
    starts = [out.index(heading) for heading in ("\nASGI:", "\nWSGI:", "\nshare of bare =")]
    assert starts == sorted(starts)
    asgi, wsgi = (out[start:end] for start, end in itertools.pairwise(starts))
    for section, names in ((asgi, ASGI_CONTENDERS), (wsgi, WSGI_CONTENDERS)):
        rows = _rows(section)
        # Under the table, where Linux has PSI: how busy the machine was with other work.
        rows = [row for row in rows if not row.startswith("other work wanted a CPU ")]
        assert len(rows) == len(names), rows
        for row, name in zip(rows, names, strict=True):
            assert row.startswith(name + "  "), (row, name)
            _assert_server_row(row[len(name) :].split(), bare=name == next(iter(names)))


def _assert_server_row(cells: list[str], *, bare: bool) -> None:
    """requests/s, share of bare, spread, CPU µs/request, share by CPU, CPU spread, rounds."""
    assert len(cells) == 7, cells
    rate, share, _, cpu_us, cpu_share, _, rounds = cells
    assert float(rate.replace(",", "")) > 0, cells
    assert float(cpu_us.replace(",", "")) > 0, cells
    assert rounds == "1", cells
    for value in (share, cpu_share):
        if bare:
            assert value == "-", cells
        else:
            # A share that parses and is not absurd: one 1 s round on a shared machine can put
            # a contender well above the bare app (187 % was seen), so only the order of
            # magnitude is checked; none is free, none is 20 times the bare app's cost.
            assert value.endswith("%") and 5 <= int(value[:-1]) <= 500, cells


@pytest.mark.slow
def test_instruction_counts_are_exact_and_see_the_middleware() -> None:
    """callgrind counts the same run the same, and a wrapped app costs more instructions per
    request than the bare one (by less than a whole bare Flask request)."""
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    from bench import instructions

    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed (Debian: apt-get install valgrind)")
    runs = [("wsgi_bare", 50), ("wsgi_bare", 250), ("wsgi_bare", 250), ("{}", 50), ("{}", 250)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        few, many, again, wrapped_few, wrapped_many = pool.map(
            lambda run: instructions.count("wsgi", *run), runs
        )
    assert abs(again - many) < 0.001 * many
    bare = (many - few) / 200
    wrapped = (wrapped_many - wrapped_few) / 200
    assert bare < wrapped < 2 * bare
