"""``python -m gatewatch``: the ``gatewatch`` command, for when its script is not on PATH."""

import sys

from gatewatch.cli import main

sys.exit(main())
