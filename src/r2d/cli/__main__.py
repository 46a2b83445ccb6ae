"""``python -m r2d.cli SUBCOMMAND ...``: the ``r2d`` console script without the installed entry point."""

import sys

from r2d.cli import main

sys.exit(main())
