"""Command-line front ends (argparse + printing) over the library; ``r2d.cli`` maps subcommands to them."""

from __future__ import annotations

import argparse
import sys


class ArgumentParser(argparse.ArgumentParser):
    """argparse with an example in the epilog kept as written, and exit status 2 on bad arguments."""

    def __init__(self, *, prog: str, description: str, example: str, **kwargs):
        super().__init__(prog=prog, description=description, epilog="example:\n  " + example.strip(),
                         formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def fail(prog: str, message: str) -> int:
    """Print ``prog: error: message`` to stderr and return exit status 2 (no traceback for user errors)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
