"""``r2d demo``: the article's sentence and a few paragraphs through the bundled ``r2d-en``, beside RoBERTa, with no
downloads: the 2D table, the exact round trip, rows and flag rates.
"""

from __future__ import annotations

from r2d.cli.common import ArgumentParser, guard, load_tokenizer

SENTENCE = "I enjoyed riding in Australia's parks."

PARAGRAPHS = """\
Tokenizers used by today's language models give every surface form of a word its own slot: "Dog", " dog",
"dogs" and "DOGS" are unrelated ids, and whatever the model learns about one of them does not reach the others.

2D tokenization keeps one root for all of them and moves the differences into flags. The walkers walked past
the parks, talking about NASA's plans; she was riding a bike while her brothers were running behind.

The representation is lossless: spaces, capitals, the odd iPhone or McDonald's, numbers like 3.14 and 2015,
emoji 🚲 and even right-to-left text such as שלום come back exactly as they went in.
"""


@guard("r2d demo")
def main(argv: list[str] | None = None) -> int:
    ap = ArgumentParser(
        prog="r2d demo",
        description="Run the article's sentence and a few embedded paragraphs through the bundled r2d-en tokenizer: "
                    "the 2D table, RoBERTa's tokens for the same text, the exact round trip, rows and flag rates.",
        example="r2d demo\n  r2d demo --text \"Your own text here.\"",
    )
    ap.add_argument("--text", help="use this text instead of the embedded paragraphs")
    ap.add_argument("--tokenizer", default="r2d-en", metavar="DIR", help="'r2d-en' (bundled) or a saved folder")
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.rule import Rule

    from r2d.tokenizer.baseline import roberta_bpe
    from r2d.cli.tokenize import tokenize_main
    from r2d.analysis.stats import ARTICLE_FLAG_RATES
    from r2d.tokenizer.rates import flag_rates

    tok = load_tokenizer(args.tokenizer)
    c = Console()
    c.print(Rule("1. The article's sentence: one root per word, flags for the rest"))
    tokenize_main([SENTENCE, "--compare", "--tokenizer", args.tokenizer])

    text = args.text if args.text is not None else PARAGRAPHS
    c.print(Rule("2. A few paragraphs"))
    enc = tok(text)
    back = tok.decode(enc["input_ids"], enc["flags"])
    roberta = roberta_bpe()
    rb = roberta.encode(text)
    c.print(f"{len(text.encode('utf-8')):,} bytes -> r2d {len(enc['input_ids']):,} rows "
            f"({tok.vocab_size:,} roots, {tok.num_flags} flags) vs RoBERTa {len(rb.ids):,} tokens")
    ok = back == text
    c.print(f"round trip decode(encode(text)) == text: [{'green' if ok else 'red'}]{ok}[/]")
    rates = flag_rates(tok, [text], per="word")
    c.print("flag rates per word here: " + ", ".join(f"{k} {v:.0%}" for k, v in rates.items()))
    c.print("the article's (OpenWebText): " + ", ".join(f"{k} {v:.1%}" for k, v in ARTICLE_FLAG_RATES.items()))
    variants = ["dog", " dog", "Dog", " Dog", "dogs", " Dogs", " DOGS", " dog's"]
    roots = {v: tok.split(v)[0].root for v in variants}
    rids = {v: roberta.encode(v, add_special_tokens=False).ids for v in variants}
    c.print(Rule("3. One embedding for every variant"))
    for v in variants:
        c.print(f"  {v!r:10} r2d root {roots[v]!r:6} id {tok.encode(v, add_special_tokens=False)}  "
                f"RoBERTa ids {rids[v]}")
    return 0 if ok else 1
