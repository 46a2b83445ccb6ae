"""``r2d prepare-corpus``: tokenize a corpus once into memory-mapped shards, for ``r2d pretrain --corpus DIR``
(:func:`r2d.training.shards.prepare_shards`). ``--out`` appears only once complete; shards of other files or
another tokenizer are replaced only with ``--overwrite``.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from r2d.cli.common import guard
from r2d.io import InputError
from r2d.training.shards import SHARD_ROWS

PROG = "r2d prepare-corpus"
EXAMPLE = """r2d prepare-corpus --corpus ../shared/data/wikipedia_en/*.txt.gz --out data/wiki-r2d --workers 2
  r2d pretrain --objective clm --model r2d --corpus data/wiki-r2d --out runs/clm-r2d --pack
  r2d prepare-corpus --model bpe --tokenizer runs/clm-bpe/tokenizer --corpus big.txt.gz --out data/big-bpe"""


@dataclass
class PrepareArgs:
    """Arguments of ``r2d prepare-corpus`` (each field's ``metadata["help"]`` is its ``--help`` text)."""

    corpus: list[str] = field(metadata={"metavar": "FILE", "help": (
        "corpus files (.txt or .txt.gz; WikiExtractor <doc> markup is dropped) or a Hub dataset name[:config] "
        "(streamed)")})
    out: str = field(metadata={"help": (
        "the shard folder to write: manifest.json and, per shard, .ids, .flags (R2D) and .docs files")})
    model: Literal["r2d", "roberta", "bpe"] = field(default="r2d", metadata={"help": (
        "whose tokenizer: r2d (ids + flags) or roberta / bpe (ids only), as for r2d pretrain")})
    tokenizer: str | None = field(default=None, metadata={"help": (
        "r2d: tokenizer folder or r2d-en (default r2d-en); roberta, bpe: folder or Hub name (default: the offline "
        "RoBERTa BPE); r2d pretrain must use the same one")})
    workers: int | None = field(default=None, metadata={"help": (
        "tokenizer processes (0: this process; default: this process for files under 4 MB, else one per core, at most "
        "8)")})
    max_docs: int | None = field(default=None, metadata={"help": (
        "read at most this many documents (all corpus files together)")})
    shard_rows: int = field(default=SHARD_ROWS, metadata={"help": (
        "rows per shard file (a document is never split across shards)")})
    overwrite: bool = field(default=False, metadata={"help": (
        "replace shards in --out that were made from other files or with another tokenizer")})
    progress: bool = field(default=True, metadata={"help": "show a progress bar (--no-progress: log lines only)"})


def build_parser():
    from r2d.cli.args import DataclassArgumentParser

    return DataclassArgumentParser(
        PrepareArgs, prog=PROG, example=EXAMPLE,
        description="Tokenize a corpus once, in parallel worker processes, into sharded memory-mapped files (ids in "
                    "the smallest integer type that holds the vocabulary, flags packed as bits, a document index) "
                    "that r2d pretrain --corpus DIR reads without loading; memory does not grow with the corpus.")


def _check_out(args: PrepareArgs, sources: list[dict], fingerprint: str) -> bool:
    """True when ``--out`` already holds these shards; raises :class:`InputError` when it may not be written."""
    from r2d.training.shards import Shards, is_shard_folder, stale_reason

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}", "is a file, not a folder")
    if is_shard_folder(out):
        try:
            reason = stale_reason(Shards(out), sources=sources, fingerprint=fingerprint, max_docs=args.max_docs)
        except InputError as e:
            reason = f"broken ({e})"
        if reason is None:
            return True
        if not args.overwrite:
            raise InputError(f"--out {out}", f"holds shards {reason}; pass --overwrite to replace them, or choose "
                             "another folder")
    elif out.is_dir() and any(out.iterdir()):
        raise InputError(f"--out {out}", "is a folder that holds other files, not shards; choose a new or empty one")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}", f"the folder {out.parent} does not exist")
    return False


@guard(PROG)
def main(argv: list[str] | None = None) -> int:
    """Parse arguments, prepare the shards (or find them up to date), print what ``--out`` holds."""
    from r2d.training.data import check_corpus, default_workers, iter_corpus_documents
    from r2d.training.pretrain import load_tokenizer
    from r2d.training.shards import (ReadProgress, Shards, is_shard_folder, prepare_shards, source_record,
                                     tokenizer_fingerprint)

    args = build_parser().parse(argv)
    for name, least in (("workers", 0), ("max_docs", 1), ("shard_rows", 1)):
        value = getattr(args, name)
        if value is not None and value < least:
            raise InputError(f"--{name.replace('_', '-')} {value}", f"must be >= {least}")
    check_corpus(args.corpus)
    if is_shard_folder(args.corpus[0]):
        raise InputError(f"--corpus {args.corpus[0]}", "is prepared shards already; give corpus files")
    tokenizer = load_tokenizer(args.model, args.tokenizer)
    name = args.tokenizer or ("r2d-en" if args.model == "r2d" else "roberta-baseline")
    sources = [source_record(s) for s in args.corpus]
    fingerprint = tokenizer_fingerprint(tokenizer)
    if _check_out(args, sources, fingerprint):
        shards = Shards(args.out)
        print(f"{args.out}: up to date ({shards.documents} documents, {shards.rows} rows, "
              f"{len(shards.manifest['shards'])} shard(s))")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    workers = default_workers(args.corpus) if args.workers is None else args.workers
    with ReadProgress("tokenizing the corpus", bar=args.progress) as bar:
        shards = prepare_shards(iter_corpus_documents(args.corpus, args.max_docs, progress=bar), tokenizer, args.out,
                                sources=sources, tokenizer_name=name, fingerprint=fingerprint, max_docs=args.max_docs,
                                workers=workers, shard_rows=args.shard_rows)
    m = shards.manifest
    print(f"wrote {args.out}: {m['documents']} documents, {m['rows']} rows ({m['ids_dtype']} ids"
          f"{', %d flags packed in %d byte(s) a row' % (m['num_flags'], m['flag_bytes']) if m['num_flags'] else ''}) "
          f"in {len(m['shards'])} shard(s); {m['text_bytes'] / 1e6:.1f} MB of text in {m['seconds']:.1f} s "
          f"({m['text_bytes'] / 1e6 / max(m['seconds'], 1e-9):.2f} MB/s, {workers} worker(s))")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
