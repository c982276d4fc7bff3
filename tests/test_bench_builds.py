"""How the bench names and places the two builds (bench.builds), cheaply: no wheel is built here.

Building both wheels and their venvs takes minutes (a mypyc compile), so ``make bench`` does it
and checks each build after installing it; what is checked here is what the tables say about a
build and which rows run under it.
"""

from __future__ import annotations

from pathlib import Path

# The contenders come from the bench extra (without it, tests/conftest.py skips this module).
import starlette_exporter  # noqa: F401

from bench import instructions, server_apps, server_bench, targets
from bench.builds import Build

PURE = Build("pure", "/pure/bin/python", Path("/run"), compiled=False, requested_compiled=False)
COMPILED = Build("compiled", "/compiled/bin/python", Path("/run"), compiled=True, requested_compiled=True)
NOT_COMPILED = Build(
    "compiled", "/compiled/bin/python", Path("/run"), compiled=False, requested_compiled=True
)


def test_a_compiled_build_that_did_not_compile_says_so() -> None:
    assert (PURE.tag, COMPILED.tag) == ("pure", "compiled")
    assert "pure" in NOT_COMPILED.tag and NOT_COMPILED.tag != "compiled"


def test_gatewatch_rows_once_per_build_the_others_once() -> None:
    rows = instructions.rows_for([PURE, COMPILED])
    gatewatch = [
        name for name, (_, spec) in instructions.CONTENDERS.items() if instructions.is_gatewatch(spec)
    ]
    others = [name for name in instructions.CONTENDERS if name not in gatewatch]
    assert gatewatch and others
    assert sorted(row.name for row in rows) == sorted(
        [*others, *(f"{name} [{tag}]" for name in gatewatch for tag in ("pure", "compiled"))]
    )
    for row in rows:
        # A gatewatch row checks, before it is counted, that it imports the build it is named after.
        assert row.expected == (
            None if row.name in others else "compiled" if row.build is COMPILED else "pure"
        )
        assert row.build is (PURE if row.name in others else row.build)

    served = server_bench.contenders_for(server_apps.ASGI_CONTENDERS, [PURE, COMPILED])
    assert [one.name for one in served if one.build is COMPILED] == [
        f"{name} [compiled]"
        for name, attribute in server_apps.ASGI_CONTENDERS.items()
        if "gatewatch" in attribute
    ]
    assert served[0].name == "bare app" and served[0].build is PURE


def test_targets_say_met_only_within_their_bounds() -> None:
    assert targets.instructions_line("pure", "ASGI", 0.5).endswith(": met")
    assert targets.instructions_line("pure", "ASGI", 0.51).endswith("NOT met")
    assert targets.spans_line("pure", 0.5, 0.99).endswith(": met")
    assert targets.spans_line("pure", 0.4, 1.0).endswith("NOT met")
    assert targets.server_line("pure", "uvicorn", 0.85, 0.80, targets.UVICORN_SHARE).endswith(": met")
    # Both measures must reach the target: requests/s alone is the noisier one.
    assert targets.server_line("pure", "uvicorn", 0.90, 0.79, targets.UVICORN_SHARE).endswith("NOT met")
