"""The data of ``r2d experiment``: its corpus (train text, held-out documents, wikitext-2 articles) and tokenizers.

Every function writes into the run folder and returns what its stage marker records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from r2d.experiment.presets import FLAG_ARMS, ExperimentPreset, wikipedia_shards
from r2d.io import InputError, check_file


def corpus_sources(data_dir: Path | None, corpus: Sequence[str] | None) -> list[Path]:
    """The files :func:`prepare_corpus` reads: the ``corpus`` files or the Wikipedia shards, and wikitext-2's test
    split."""
    files = [Path(c) for c in corpus] if corpus else wikipedia_shards(data_dir) if data_dir else []
    return files + ([data_dir / "wikitext-2-raw" / "wiki.test.raw"] if data_dir else [])


def _plain_lines(files: Sequence[Path]):
    """Paragraph lines of corpus files (``.gz`` too), WikiExtractor ``<doc>`` tag lines and blanks dropped."""
    from r2d.text.corpus import iter_corpus_lines

    for line in iter_corpus_lines(files):
        line = line.strip()
        if line:
            yield line


def _take(lines, budget: int) -> list[str]:
    out, n = [], 0
    for line in lines:
        if n >= budget:
            break
        out.append(line)
        n += len(line.encode("utf-8")) + 1
    return out


def wikitext_articles(path: Path, budget: int) -> list[str]:
    """Whole articles of a wikitext-2-raw file (cut before its `` = Title = `` lines), up to ``budget`` bytes.

    Every byte is kept (``\r\n`` line ends, blank lines): the articles joined are exactly the file's first bytes, so
    bits per byte counts and predicts the line breaks like any other text.
    """
    import re

    from r2d.text.corpus import read_exact

    text = read_exact(path)
    titles = [m.start() for m in re.finditer(r"(?m)^ = [^=\r\n].* = \r?$", text)]
    cuts = [0, *titles[1:], len(text)]  # whatever precedes the first title belongs to the first article
    articles, n = [], 0
    for a, b in zip(cuts, cuts[1:]):
        if a == b:
            continue
        if n >= budget:
            break
        articles.append(text[a:b])
        n += len(text[a:b].encode("utf-8"))
    return articles


def prepare_corpus(out: Path, data_dir: Path | None, corpus: Sequence[str] | None, preset: ExperimentPreset) -> dict:
    """Write ``OUT/corpus/train.txt``, ``heldout.txt`` (one paragraph per line) and ``wikitext.json`` (articles).

    Local data: train from the first Wikipedia shards, held-out documents from the last shard (never read for
    training or tokenizers); ``corpus`` files: the first ``heldout_docs`` paragraphs held out, the rest train.
    """
    d = out / "corpus"
    d.mkdir(parents=True, exist_ok=True)
    if corpus:
        files = [check_file(c, what="--corpus") for c in corpus]
        lines = _plain_lines(files)
        heldout = [next(lines) for _ in range(preset.heldout_docs)]
        train = _take(lines, preset.corpus_bytes)
        source = [str(f) for f in files]
    else:
        shards = wikipedia_shards(data_dir)
        if len(shards) < 2:
            raise InputError(data_dir / "wikipedia_en", "expected enwiki_*.txt.gz shards (see SOURCE.md)")
        train = _take(_plain_lines(shards[:-1]), preset.corpus_bytes)
        lines = _plain_lines(shards[-1:])
        heldout = [line for _, line in zip(range(preset.heldout_docs), (x for x in lines if len(x) > 200))]
        source = [str(s) for s in shards]
    wikitext: list[str] = []
    wt = data_dir / "wikitext-2-raw" / "wiki.test.raw" if data_dir else None
    if wt is not None and wt.is_file():
        wikitext = wikitext_articles(wt, preset.wikitext_bytes)
    (d / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    (d / "heldout.txt").write_text("\n".join(heldout) + "\n", encoding="utf-8")
    (d / "wikitext.json").write_text(json.dumps(wikitext), encoding="utf-8")
    return {"source": source, "train_file": str(d / "train.txt"), "heldout_file": str(d / "heldout.txt"),
            "wikitext_file": str(d / "wikitext.json"), "train_lines": len(train),
            "train_bytes": (d / "train.txt").stat().st_size, "heldout_docs": len(heldout),
            "heldout_bytes": sum(len(x.encode("utf-8")) for x in heldout), "wikitext_articles": len(wikitext),
            "wikitext_bytes": sum(len(x.encode("utf-8")) for x in wikitext)}


def heldout_docs(corpus_info: dict) -> list[str]:
    return Path(corpus_info["heldout_file"]).read_text(encoding="utf-8").splitlines()


def eval_sets(corpus_info: dict) -> dict[str, list[str]]:
    """Bits-per-byte datasets: ``wikipedia_heldout`` and (when present) ``wikitext2``, one document each."""
    sets = {"wikipedia_heldout": heldout_docs(corpus_info)}
    wikitext = json.loads(Path(corpus_info["wikitext_file"]).read_text(encoding="utf-8"))
    if wikitext:
        sets["wikitext2"] = wikitext
    return sets


def _rows_per_1000_bytes(tok, sample: list[str]) -> float:
    """Rows (or tokens) per 1,000 UTF-8 bytes of ``sample``, specials left out."""
    nbytes = sum(len(s.encode("utf-8")) for s in sample) or 1
    return round(1000 * sum(len(x) for x in tok(sample, add_special_tokens=False)["input_ids"]) / nbytes, 2)


def prepare_tokenizers(out: Path, corpus_info: dict, preset: ExperimentPreset) -> dict:
    """An R2D tokenizer and a byte-level BPE of the same size, trained on the same text (``OUT/tokenizers``)."""
    from r2d.tokenizer.baseline import train_byte_level_bpe
    from r2d.tokenizer.hf import R2DTokenizer

    d = out / "tokenizers"
    train_file = corpus_info["train_file"]
    r2d_tok = R2DTokenizer.train([train_file], vocab_size=preset.vocab_size, model_max_length=preset.max_length)
    bpe_tok = train_byte_level_bpe(Path(train_file).read_text(encoding="utf-8").splitlines(), preset.vocab_size)
    r2d_tok.save_pretrained(d / "r2d")
    bpe_tok.save_pretrained(str(d / "bpe"))
    sample = heldout_docs(corpus_info)[:200]
    return {"r2d": str(d / "r2d"), "bpe": str(d / "bpe"), "roberta": str(d / "bpe"),
            "vocab_size": {"r2d": len(r2d_tok), "bpe": len(bpe_tok)},
            "rows_per_1000_bytes_heldout": {"r2d": _rows_per_1000_bytes(r2d_tok, sample),
                                            "bpe": _rows_per_1000_bytes(bpe_tok, sample)}}


def prepare_arm_tokenizer(out: Path, corpus_info: dict, preset: ExperimentPreset, arm: str) -> dict:
    """The R2D tokenizer of one flag set of the ablation (:data:`FLAG_ARMS`), like the pair's in all else: the same
    vocabulary size and training text; its list is the bundled one or built with the arm's affixes (saved beside)."""
    from r2d.flags import FlagSchema
    from r2d.lists.english import DEFAULT_AFFIXES
    from r2d.tokenizer.hf import R2DTokenizer

    schema = FlagSchema.parse(FLAG_ARMS[arm])
    d = out / "tokenizers" / f"r2d-{arm}"
    d.mkdir(parents=True, exist_ok=True)
    lst: str | Path = "en"
    affixes = tuple(schema.affix_flags)  # the list splits off exactly the schema's affixes
    if set(affixes) - set(DEFAULT_AFFIXES):  # more than the bundled list has
        from r2d.lists.deconstruct import write_entries
        from r2d.lists.english import build_english_list

        lst = out / "tokenizers" / f"r2d-{arm}.list.tsv"
        write_entries(lst, build_english_list(affixes=affixes),
                      header=f"the list of flag set {arm!r}: build_english_list(affixes={list(affixes)})\n")
    tok = R2DTokenizer.train([corpus_info["train_file"]], vocab_size=preset.vocab_size, deconstruction_list=lst,
                             flag_names=schema.names, model_max_length=preset.max_length)
    tok.save_pretrained(d)
    return {"path": str(d), "flags": list(tok.flag_names), "list": str(lst), "vocab_size": len(tok),
            "rows_per_1000_bytes_heldout": _rows_per_1000_bytes(tok, heldout_docs(corpus_info)[:200])}
