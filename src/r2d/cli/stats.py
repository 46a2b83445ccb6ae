"""``r2d stats``: flag rates, list coverage, top-N word coverage and rows per 1,000 bytes, r2d vs RoBERTa
(:mod:`r2d.analysis.stats`), as a table or JSON.
"""

from __future__ import annotations

import itertools
import json

from r2d.cli.common import ArgumentParser, fail, guard, load_tokenizer
from r2d.io import InputError

PROG = "r2d stats"


@guard(PROG)
def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(
        prog=PROG,
        description="Measure a tokenizer on a corpus: flag rates (next to the article's OpenWebText rates), the "
                    "share of word occurrences the deconstruction list splits, rows per 1,000 bytes of r2d vs "
                    "RoBERTa, and how many of wordfreq's top-N English words are a single token in each.",
        example="r2d stats --corpus ../shared/data/wikipedia_en/enwiki_AA_wiki_00-19.txt.gz --lines 20000",
    )
    ap.add_argument("--corpus", nargs="*", default=[], metavar="FILE",
                    help="text files (.gz too); without one, only the top-N coverage is measured")
    ap.add_argument("--lines", type=int, default=20_000, help="use the first N non-empty lines (default 20000)")
    ap.add_argument("--tokenizer", default="r2d-en", metavar="DIR", help="'r2d-en' (bundled) or a saved folder")
    ap.add_argument("--top", type=int, default=50_000, metavar="N",
                    help="how many of wordfreq's top-N English words are one token (default 50000; 0 = skip)")
    ap.add_argument("--format", choices=("table", "json"), default="table", help="terminal tables or one JSON object")
    args = ap.parse_args(argv)
    if not args.corpus and not args.top:
        return fail(PROG, "nothing to measure: give --corpus FILE... and/or --top N")
    if args.lines < 1 or args.top < 0:
        return fail(PROG, "--lines must be at least 1 and --top at least 0")
    from r2d.analysis import stats
    from r2d.text.corpus import iter_corpus_lines

    tok = load_tokenizer(args.tokenizer)
    lines = list(itertools.islice((ln for ln in iter_corpus_lines(args.corpus) if ln.strip()), args.lines))
    if args.corpus and not lines:
        raise InputError(f"--corpus {' '.join(args.corpus)}", "has no text (only empty lines or markup)")
    report: dict = {"tokenizer": args.tokenizer, "corpus": args.corpus, "lines": len(lines)}
    if lines:
        report["flag_rates_per_word"] = stats.flag_rates(tok, lines, per="word")
        report["flag_rates_per_row"] = stats.flag_rates(tok, lines, per="row")
        cov = stats.list_coverage(tok, lines)
        report["list_coverage"] = {"word_occurrences": cov.words, "split": cov.split, "split_share": cov.split_share,
                                   "decided_share": cov.decided_share}
        report["rows_per_kb"] = stats.rows_per_kb(tok, lines)
    if args.top:
        report["top_n"] = stats.top_n_coverage(tok, args.top)
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return 0
    _print_tables(report)
    return 0


def _print_tables(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from r2d.analysis.stats import ARTICLE_FLAG_RATES

    c = Console()
    if "flag_rates_per_word" in report:
        t = Table(title=f"flag rates ({report['lines']:,} lines)")
        for col in ("flag", "per word", "per row", "article (OpenWebText)"):
            t.add_column(col, justify="right" if col != "flag" else "left")
        for name, rate in report["flag_rates_per_word"].items():
            art = ARTICLE_FLAG_RATES.get(name)
            t.add_row(name, f"{rate:.2%}", f"{report['flag_rates_per_row'][name]:.2%}",
                      f"{art:.1%}" if art is not None else "-")
        c.print(t)
        cov = report["list_coverage"]
        c.print(f"list: splits {cov['split']:,} of {cov['word_occurrences']:,} word occurrences "
                f"({cov['split_share']:.1%}); words or roots it decides: {cov['decided_share']:.1%}")
        r = report["rows_per_kb"]
        c.print(f"rows per 1,000 bytes: r2d {r['r2d_per_kb']:.1f}, RoBERTa {r['roberta_per_kb']:.1f} "
                f"(r2d/RoBERTa = {r['ratio']:.3f}, {fewer_or_more(r['ratio'])})")
    if "top_n" in report:
        n = report["top_n"]
        c.print(f"single token among wordfreq's top {n['words']:,}: r2d {n['r2d']:,}, RoBERTa {n['roberta']:,} "
                f"(' word'), {n['roberta_either']:,} (' word' or 'word')")


def fewer_or_more(ratio: float) -> str:
    """How r2d's rows compare with RoBERTa's, from their ratio: ``"5.1% fewer rows"`` or ``"2.0% more rows"``.

    >>> fewer_or_more(0.949), fewer_or_more(1.02), fewer_or_more(1.0)
    ('5.1% fewer rows', '2.0% more rows', 'as many rows')
    """
    if round(ratio, 3) == 1.0:
        return "as many rows"
    return f"{1 - ratio:.1%} fewer rows" if ratio < 1 else f"{ratio - 1:.1%} more rows"
