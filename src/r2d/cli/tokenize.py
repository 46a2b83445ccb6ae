"""``r2d tokenize`` and ``r2d decode``: the 2D table of a text, as a terminal table or JSON, and back.

Unlike the library's ``decode`` (total on model output), ``r2d decode`` checks its JSON field by field and refuses
ids outside the vocabulary and flags that are not 0/1 or probabilities, saying which field and where.
"""

from __future__ import annotations

import json
import sys

from r2d.cli.common import ArgumentParser, guard, load_tokenizer, read_stdin
from r2d.io import InputError, read_text

FLAG_SHORT = {"NoSpace": "NoSp", "FirstCap": "Cap", "AllCaps": "CAPS", "Suffix_s": "~s", "Suffix_ed": "~ed",
              "Suffix_ing": "~ing", "Contraction_s": "'s"}


def word_rows(tok, text: str, pair: str | None = None) -> list[dict]:
    """One dict per word (piece) or special row: text, root, ids, tokens, flags (one 0/1 per flag name)."""
    enc = tok(text, pair, return_offsets_mapping=True, return_special_tokens_mask=True)
    ids, flags, offs, special = enc["input_ids"], enc["flags"], enc["offset_mapping"], enc["special_tokens_mask"]
    sources = [text] if pair is None else [text, pair]
    out: list[dict] = []
    seen_eos = False  # subtle: rows after the first </s> belong to the pair's second text
    for t, f, (s, e), sp in zip(ids, flags, offs, special):
        token = tok.convert_ids_to_tokens([t])[0]
        if sp:
            out.append({"text": "", "root": token, "ids": [t], "tokens": [token], "flags": list(f)})
            seen_eos = seen_eos or t == tok.eos_token_id
            continue
        if out and out[-1]["text"] and not tok.word_start[t]:
            out[-1]["ids"].append(t)
            out[-1]["tokens"].append(token)
            continue
        src = sources[1 if seen_eos and pair is not None else 0]
        # the piece's own text includes the space the regex attached, when NoSpace is 0
        start = s - 1 if not f[0] and s > 0 and src[s - 1] == " " else s
        out.append({"text": src[start:e], "root": None, "ids": [t], "tokens": [token], "flags": list(f)})
    for w in out:
        if w["root"] is None:
            w["root"] = _root_text(tok, w["ids"])
    return out


def _root_text(tok, ids: list[int]) -> str:
    return b"".join(tok._token_bytes[i] for i in ids).decode("utf-8", errors="replace")


@guard("r2d tokenize")
def tokenize_main(argv: list[str] | None = None) -> int:
    prog = "r2d tokenize"
    ap = ArgumentParser(
        prog=prog,
        description="Print the 2D table of a text: each word's root, token id(s) and one column per flag "
                    "(like the article's table). Use '-' to read the text from standard input.",
        example="r2d tokenize \"I enjoyed riding in Australia's parks.\" --compare\n"
                "  r2d tokenize \"Dogs bark.\" --format json > dogs.json && r2d decode dogs.json",
    )
    ap.add_argument("text", help="the text ('-' = standard input)")
    ap.add_argument("--pair", metavar="TEXT", help="a second segment: <s> A </s></s> B </s>")
    ap.add_argument("--tokenizer", default="r2d-en", metavar="DIR", help="'r2d-en' (bundled) or a saved folder")
    ap.add_argument("--format", choices=("table", "json"), default="table",
                    help="json: ids, flags and the tokenizer (a folder as its absolute path), for 'r2d decode'")
    ap.add_argument("--compare", action="store_true", help="also show RoBERTa's tokens for the same text")
    args = ap.parse_args(argv)
    text = read_stdin() if args.text == "-" else args.text
    tok = load_tokenizer(args.tokenizer)
    if args.format == "json":
        from r2d.tokenizer.files import portable_name

        enc = tok(text, args.pair)
        doc = {"tokenizer": portable_name(args.tokenizer), "flag_names": list(tok.flag_names), "input_ids": enc["input_ids"],
               "flags": [list(f) for f in enc["flags"]], "tokens": tok.convert_ids_to_tokens(enc["input_ids"])}
        if args.compare:
            doc["roberta_tokens"] = _roberta_tokens(text, args.pair)
        print(json.dumps(doc, ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rows = word_rows(tok, text, args.pair)
    table = Table(title=f"r2d ({args.tokenizer}): {sum(len(r['ids']) for r in rows)} rows", show_lines=False)
    table.add_column("text", style="cyan")
    table.add_column("root", style="bold")
    table.add_column("id(s)", justify="right")
    for name in tok.flag_names:
        table.add_column(FLAG_SHORT.get(name, name), justify="center")
    for r in rows:
        root = r["root"] if r["root"].strip() else repr(r["root"])
        table.add_row(repr(r["text"])[1:-1] if r["text"] else "", root, " ".join(map(str, r["ids"])),
                      *["[green]1[/]" if v else "[dim]0[/]" for v in r["flags"]])
    console.print(table)
    if args.compare:
        toks = _roberta_tokens(text, args.pair)
        console.print(f"RoBERTa: {len(toks)} tokens: " + " ".join(repr(t)[1:-1] for t in toks))
    return 0


def _roberta_tokens(text: str, pair: str | None) -> list[str]:
    from r2d.tokenizer.baseline import roberta_bpe
    from r2d.tokenizer.hf import unicode_to_bytes

    table = unicode_to_bytes()
    enc = roberta_bpe().encode(text, pair) if pair is not None else roberta_bpe().encode(text)
    out = []
    for t in enc.tokens:
        if t.startswith("<") and t.endswith(">"):
            out.append(t)
        else:
            out.append(bytes(table[c] for c in t if c in table).decode("utf-8", errors="replace"))
    return out


@guard("r2d decode")
def decode_main(argv: list[str] | None = None) -> int:
    prog = "r2d decode"
    ap = ArgumentParser(
        prog=prog,
        description="Read the JSON that 'r2d tokenize --format json' prints (input_ids + flags) and write the "
                    "text back, exactly. Ids must be in the vocabulary; flags 0/1 or probabilities in [0, 1] "
                    "(on at >= 0.5). 'flags' may be left out: without 'flags' every flag is 0, so the text comes "
                    "back as bare roots, a space before each word (ids alone lose what the flags carry: case, "
                    "suffixes, 's, spacing). A pair (<s> A </s></s> B </s>) comes back as A directly followed by B, "
                    "as Hugging Face tokenizers decode a pair; --keep-special shows where B starts.",
        example="r2d tokenize \"Dogs bark.\" --format json | r2d decode -",
    )
    ap.add_argument("file", nargs="?", default="-", help="JSON file ('-' = standard input, the default)")
    ap.add_argument("--tokenizer", metavar="DIR", help="override the tokenizer named in the JSON")
    ap.add_argument("--keep-special", action="store_true", help="write <s>, </s>, <pad> rows too")
    args = ap.parse_args(argv)
    where = "<stdin>" if args.file == "-" else args.file
    raw = read_stdin() if args.file == "-" else read_text(args.file)
    if not raw.strip():
        raise InputError(where, "is empty: expected the JSON of 'r2d tokenize --format json'")
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as err:
        raise InputError(where, f"not JSON ({err.msg} at column {err.colno})", line=err.lineno) from None
    ids, flags = parse_rows(doc, where)
    tok = load_tokenizer(args.tokenizer) if args.tokenizer else tokenizer_named_in(doc, where)
    for k, row in enumerate(flags or []):
        if len(row) != tok.num_flags:
            raise InputError(where, f"row {k} has {len(row)} values, the tokenizer has {tok.num_flags} flags "
                                    f"({', '.join(tok.flag_names)})", field="flags")
    from r2d.tokenizer.arrays import invalid_decode_input

    invalid = invalid_decode_input(ids, flags, tok.vocab_size)
    if invalid is not None:
        raise InputError(where, invalid[1], field=invalid[0])
    # a JSON without flags means all off, as --help says: no warning for what was asked
    sys.stdout.write(tok.decode(ids, flags, skip_special_tokens=not args.keep_special, assume_flags_off=flags is None))
    return 0


def tokenizer_named_in(doc: dict, where: str):
    """The tokenizer a ``tokenize --format json`` document names (``r2d-en`` when it names none).

    Raises:
        InputError: the name is not a string or does not load; the file and its ``tokenizer`` field are blamed,
            not ``--tokenizer`` (which was not given).
    """
    name = doc.get("tokenizer", "r2d-en")
    if not isinstance(name, str):
        raise InputError(where, f"must be a tokenizer name or folder, got {json.dumps(name)[:40]}", field="tokenizer")
    try:
        return load_tokenizer(name)
    except InputError as err:
        raise InputError(where, f"{err.reason} (pass --tokenizer DIR to decode with another)", field="tokenizer") from None


def parse_rows(doc, where: str) -> tuple[list[int], list[list[float]] | None]:
    """``input_ids`` and ``flags`` of a ``tokenize --format json`` document, checked field by field.

    Raises:
        InputError: not an object, ``input_ids`` not a list of integers, ``flags`` not one row of numbers per id.
    """
    if not isinstance(doc, dict) or "input_ids" not in doc:
        raise InputError(where, "expected an object with 'input_ids' (and 'flags'), as printed by "
                                "'r2d tokenize --format json'")
    ids, flags = doc["input_ids"], doc.get("flags")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise InputError(where, "must be a list of integers", field="input_ids")
    if flags is None:
        return ids, None
    if not isinstance(flags, list) or len(flags) != len(ids):
        raise InputError(where, f"must be a list with one row per id ({len(ids)} ids)", field="flags")
    for k, row in enumerate(flags):
        if not isinstance(row, list) or not all(isinstance(v, (int, float)) for v in row):
            raise InputError(where, f"row {k} must be a list of numbers, got {json.dumps(row)[:40]}", field="flags")
    return ids, flags
