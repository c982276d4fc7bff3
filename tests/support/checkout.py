"""Where the checkout is; imports nothing beyond the standard library (the minimal run needs it)."""

from pathlib import Path

# The checkout: servers under test run from here, so that ``examples`` and ``tests`` import.
ROOT = Path(__file__).resolve().parents[2]
