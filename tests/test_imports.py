"""Every gatewatch module imports on its own, first: an import cycle shows only when a module
of the cycle is the first one imported (``import gatewatch`` broke this way once, while the
test processes, which import in another order, passed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gatewatch._build import compiled
from tests.support.checkout import ROOT

# One process for every module: gatewatch's modules are dropped from sys.modules before each
# import, so each is imported first. Extension modules cannot be imported twice in a process,
# so this runs on the pure build (make test-pure, make test-minimal).
_SCRIPT = """
import importlib, json, pathlib, sys
failed = {}
for path in sorted(pathlib.Path("gatewatch").rglob("*.py")):
    name = ".".join(path.with_suffix("").parts).removesuffix(".__init__")
    if name.endswith("__main__"):
        continue  # runs the command line
    for loaded in [m for m in sys.modules if m == "gatewatch" or m.startswith("gatewatch.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("gatewatch"):
            continue  # an extra's module (Django, OpenTelemetry, ...), not gatewatch's cycle
        failed[name] = repr(exc)
    except Exception as exc:
        failed[name] = repr(exc)
print(json.dumps(failed))
"""


@pytest.mark.skipif(compiled(), reason="extension modules cannot be imported twice in a process")
def test_every_module_imports_first() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.splitlines()[-1]) == {}
