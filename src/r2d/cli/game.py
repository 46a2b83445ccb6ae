"""``r2d game``: the options of the deconstruction game, and its start: load the words, then play until done
(:mod:`r2d.game.ui`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from r2d.cli.common import ArgumentParser, fail
from r2d.game.state import HELP
from r2d.game.ui import CtrlC, Refused, Screen, load, play
from r2d.io import InputError

PROG = "r2d game"


def build_parser() -> ArgumentParser:
    ap = ArgumentParser(
        prog=PROG,
        description="The deconstruction game: words in frequency order, each with guessed splits; answer "
                    "with a guess letter, your own split in tilde format, or Enter to keep the word whole. "
                    "Every answer is saved at once; run again to resume.",
        example="r2d game --words wordfreq:en --list my_list.tsv --minutes 20\n"
                "  r2d game --words corpus.txt.gz --list my_list.tsv\n\n" + HELP,
    )
    ap.add_argument("--words", required=True, metavar="SOURCE",
                    help="word list (word[TAB count] per line), text corpus (.txt/.gz), or wordfreq:LANG")
    ap.add_argument("--list", required=True, metavar="FILE", dest="list_path",
                    help="the deconstruction list to extend (created if missing)")
    ap.add_argument("--minutes", type=float, default=None, metavar="N", help="stop after N minutes")
    return ap


def main(argv: list[str] | None = None) -> int:
    """``r2d game --words SOURCE --list FILE [--minutes N]``."""
    args = build_parser().parse_args(argv)
    if args.minutes is not None and args.minutes <= 0:
        return fail(PROG, f"--minutes must be positive, got {args.minutes}")
    list_path = Path(args.list_path)
    with CtrlC() as ctrl_c:
        try:
            with ctrl_c.interruptible():    # nothing is written before the first word: stop at once
                state, header = load(args.words, list_path)
                screen = Screen(ctrl_c)
        except (InputError, Refused) as err:
            return fail(PROG, str(err))
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted before the first word; nothing written", file=sys.stderr)
            return 130
        return play(state, header, list_path, args.minutes, screen, ctrl_c)
