"""``python -m rights``: the registry's own commands (the installed ``rights`` script adds scans)."""

import sys

from rights.cli import main

sys.exit(main())
