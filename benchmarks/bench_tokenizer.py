"""Encode/decode speed of r2d vs `tokenizers`' ByteLevelBPE (RoBERTa's merges) and tiktoken (GPT-2), on unseen text.

The timed lines are the first N non-empty lines of one Wikipedia file; every r2d tokenizer is loaded fresh
(empty caches) before it is timed, so "cold" is text the tokenizer has never seen. "warm" first encodes N
*other* lines (from a second file, any line also in the timed set removed) and then times the timed lines:
the state of a tokenizer deep into a long `datasets.map`, never the same input twice. `tokenizers` is loaded
fresh too (its BPE keeps a word cache) and timed with `encode_batch_fast` plus reading `.ids`; tiktoken with
`encode_ordinary_batch`. Decoding, each with a fresh tokenizer: r2d `batch_decode` of its own arrays (ids +
flag matrix, as a model gives them) and of `tok(batch)`'s Python lists, `tokenizers`' `decode_batch` and
tiktoken's `decode_batch` of their ids. Decoding one text per call: r2d `tok.decode(ids, flags)` of what
`tok(line)` returned, line by line, against `tokenizers`' and tiktoken's `decode` of each line's ids. r2d's
decoding is timed "cold" (a fresh tokenizer: every word new to it) and "warm" (it first decoded the *other*
lines, per text or per batch as timed): never the same lines twice.

Each round runs every measurement once, in an order that rotates from round to round (interleaved), each
after a `gc.collect()` (the garbage collector stays on, as in real use); the table gives medians and the ratio baseline time / r2d time (>= 1.0: r2d at least as fast). r2d returns ids
and the flag matrix, the others ids only. Compare ratios from one run, not absolute times across runs.

    python benchmarks/bench_tokenizer.py --lines 20000 --batch 1000 --rounds 7
    python benchmarks/bench_tokenizer.py --only decode   # decoding alone (each encoder's output made once, untimed)
"""

from __future__ import annotations

import argparse
import gc
import gzip
import itertools
import statistics
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared/data/wikipedia_en"
DEFAULT_CORPUS = DATA / "enwiki_AA_wiki_00-19.txt.gz"
DEFAULT_WARMUP = DATA / "enwiki_AA_wiki_20-39.txt.gz"


def load_lines(path: Path, n: int) -> list[str]:
    """The first ``n`` non-empty lines that are not WikiExtractor ``<doc>`` tags."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return list(itertools.islice((ln for ln in f if ln.strip() and not ln.startswith(("<doc", "</doc"))), n))


def tiktoken_gpt2():
    """tiktoken's GPT-2 encoding built from the local GPT-2 files (tiktoken would otherwise download them)."""
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks

    from r2d.tokenizer.baseline import gpt2_files

    enc_json, vocab_bpe = gpt2_files()
    ranks = data_gym_to_mergeable_bpe_ranks(str(vocab_bpe), str(enc_json))
    pat = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    return tiktoken.Encoding("gpt2-local", pat_str=pat, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the timed lines come from here")
    ap.add_argument("--warmup", type=Path, default=DEFAULT_WARMUP, help="'warm' tokenizers first see these lines")
    ap.add_argument("--lines", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", choices=("all", "decode"), default="all",
                    help="decode: time decoding only; what it decodes is encoded once, untimed")
    args = ap.parse_args()

    from tokenizers import ByteLevelBPETokenizer

    from r2d.tokenizer.baseline import gpt2_files
    from r2d.tokenizer.hf import R2DTokenizer

    lines = load_lines(args.corpus, args.lines)
    seen = set(lines)
    warm_lines = [ln for ln in load_lines(args.warmup, args.lines) if ln not in seen]
    batches = [lines[i:i + args.batch] for i in range(0, len(lines), args.batch)]
    warm_batches = [warm_lines[i:i + args.batch] for i in range(0, len(warm_lines), args.batch)]
    enc_json, vocab_bpe = gpt2_files()
    tt = tiktoken_gpt2()
    R2DTokenizer.from_pretrained("r2d-en")(["warm-up"])  # imports (transformers) and file cache, not timed

    def fresh_r2d():
        return R2DTokenizer.from_pretrained("r2d-en")

    def fresh_hf():
        return ByteLevelBPETokenizer(str(enc_json), str(vocab_bpe))._tokenizer

    def timed(fn, *a):
        gc.collect()  # the same for every contender: garbage of earlier rounds is not charged to the next one
        t, c = time.perf_counter(), time.process_time()
        out = fn(*a)
        cpu.append(time.process_time() - c)
        return time.perf_counter() - t, out

    outputs: dict[str, object] = {}
    cpu: list[float] = []  # CPU seconds of the process (all its threads) during the last timed call

    def r2d_cold():
        tok = fresh_r2d()
        return timed(lambda: [tok(b) for b in batches])

    def r2d_core_cold():
        core = fresh_r2d().core
        return timed(lambda: [core.encode_batch(b) for b in batches])

    def r2d_warm():
        tok = fresh_r2d()
        for b in warm_batches:
            tok(b)
        return timed(lambda: [tok(b) for b in batches])

    def hf_encode():
        hf = fresh_hf()
        return timed(lambda: [[e.ids for e in hf.encode_batch_fast(b, add_special_tokens=False)] for b in batches])

    def tt_encode():
        return timed(lambda: [tt.encode_ordinary_batch(b) for b in batches])

    def r2d_decode():
        tok = fresh_r2d()
        encs = outputs["r2d core cold"]
        return timed(lambda: [tok.batch_decode([e[i].ids for i in range(len(e))], [e[i].flags for i in range(len(e))])
                              for e in encs])

    def r2d_decode_lists():
        tok = fresh_r2d()
        return timed(lambda: [tok.batch_decode(e["input_ids"], e["flags"]) for e in outputs["r2d cold"]])

    def hf_decode():
        hf = fresh_hf()
        return timed(lambda: [hf.decode_batch(ids) for ids in outputs["tokenizers"]])

    def tt_decode():
        return timed(lambda: [tt.decode_batch(ids) for ids in outputs["tiktoken"]])

    def r2d_decode_lists_warm():
        tok = fresh_r2d()
        for enc in warm_encodings:
            tok.batch_decode(enc["input_ids"], enc["flags"])
        return timed(lambda: [tok.batch_decode(e["input_ids"], e["flags"]) for e in outputs["r2d cold"]])

    def r2d_decode_text(warm: bool):
        tok = fresh_r2d()
        if warm:
            for ids, flags in warm_texts:
                tok.decode(ids, flags)
        return timed(lambda: [tok.decode(ids, flags) for ids, flags in texts])

    def hf_decode_text():
        hf = fresh_hf()
        return timed(lambda: [hf.decode(ids) for ids in itertools.chain.from_iterable(outputs["tokenizers"])])

    def tt_decode_text():
        return timed(lambda: [tt.decode(ids) for ids in itertools.chain.from_iterable(outputs["tiktoken"])])

    encoders = {"r2d cold": r2d_cold, "r2d core cold": r2d_core_cold, "r2d warm": r2d_warm,
                "tokenizers": hf_encode, "tiktoken": tt_encode}
    decoders = {"r2d decode": r2d_decode, "r2d decode lists": r2d_decode_lists,
                "r2d decode lists warm": r2d_decode_lists_warm, "tokenizers decode": hf_decode,
                "tiktoken decode": tt_decode}
    text_decoders = {"r2d text cold": lambda: r2d_decode_text(False), "r2d text warm": lambda: r2d_decode_text(True),
                     "tokenizers text": hf_decode_text, "tiktoken text": tt_decode_text}
    # what tok(line) and tok(batch) return for the lines decoded and for the other ones (not timed)
    encoder = fresh_r2d()
    texts = [(e["input_ids"], e["flags"]) for e in map(encoder, lines)]
    warm_texts = [(e["input_ids"], e["flags"]) for e in map(encoder, warm_lines)]
    warm_encodings = [encoder(b) for b in warm_batches]
    groups = (encoders, decoders, text_decoders)
    if args.only == "decode":
        for name in ("r2d cold", "r2d core cold", "tokenizers", "tiktoken"):  # what the decoders read
            outputs[name] = encoders[name]()[1]
        groups = (decoders, text_decoders)
    times: dict[str, list[float]] = {k: [] for group in groups for k in group}
    cpu_times: dict[str, list[float]] = {k: [] for k in times}
    for r in range(args.rounds):
        for group in groups:
            names = list(group)
            for name in names[r % len(names):] + names[:r % len(names)]:  # rotate the order every round
                seconds, outputs[name] = group[name]()
                times[name].append(seconds)
                cpu_times[name].append(cpu[-1])
        flat = lambda xs: list(itertools.chain.from_iterable(xs))  # noqa: E731
        assert flat(outputs["r2d decode"]) == flat(outputs["r2d decode lists"]) == lines, "r2d did not round-trip"
        assert flat(outputs["r2d decode lists warm"]) == outputs["r2d text cold"] == outputs["r2d text warm"] == lines
        assert flat(outputs["tiktoken decode"]) == outputs["tiktoken text"] == lines
        assert flat(outputs["tokenizers decode"]) == outputs["tokenizers text"] == lines

    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu_times.items()}
    mb = sum(len(x.encode()) for x in lines) / 1e6
    rows = sum(len(e.ids) for e in outputs["r2d core cold"])
    print(f"{len(lines):,} unseen lines ({args.corpus.name}), {mb:.1f} MB, batches of {args.batch}, "
          f"median of {args.rounds} interleaved rounds; warm-up: {len(warm_lines):,} other lines ({args.warmup.name})")
    print(f"r2d rows (no <s> </s>): {rows:,}; tokenizers ids: {sum(len(x) for b in outputs['tokenizers'] for x in b):,}")
    print(f"{'what':<26}{'median s':>9}{'MB/s':>8}{'tokenizers/r2d':>16}{'tiktoken/r2d':>14}{'CPU s':>8}")
    pairs = [("encode " + k, k, "tokenizers", "tiktoken") for k in ("r2d cold", "r2d core cold", "r2d warm")]
    pairs += [("encode tokenizers", "tokenizers", None, None), ("encode tiktoken", "tiktoken", None, None)]
    if args.only == "decode":
        pairs = []
    pairs += [("decode r2d", "r2d decode", "tokenizers decode", "tiktoken decode"),
              ("decode r2d from lists", "r2d decode lists", "tokenizers decode", "tiktoken decode"),
              ("decode r2d lists, warm", "r2d decode lists warm", "tokenizers decode", "tiktoken decode"),
              ("decode tokenizers", "tokenizers decode", None, None), ("decode tiktoken", "tiktoken decode", None, None),
              ("per text r2d, cold", "r2d text cold", "tokenizers text", "tiktoken text"),
              ("per text r2d, warm", "r2d text warm", "tokenizers text", "tiktoken text"),
              ("per text tokenizers", "tokenizers text", None, None),
              ("per text tiktoken", "tiktoken text", None, None)]
    for label, k, hf_key, tt_key in pairs:
        ratios = "".join(f"{med[b] / med[k]:>{w}.2f}" if b else " " * w for b, w in ((hf_key, 16), (tt_key, 14)))
        print(f"{label:<26}{med[k]:>9.3f}{mb / med[k]:>8.2f}{ratios}{med_cpu[k]:>8.3f}")
    if args.only == "all":
        print("encode r2d cold/warm: tok(batch) -> lists of ids + flag rows; core: core.encode_batch(batch) -> arrays;")
    print("decode r2d: batch_decode of the core's arrays; from lists: of tok(batch)'s lists (with <s> </s>);")
    print("per text: decode of one line per call (r2d: of tok(line)'s lists); warm: after decoding the other lines")
    print("CPU s: CPU time of the process, all threads (tokenizers runs on several; r2d's BPE of new roots too)")


if __name__ == "__main__":
    main()
