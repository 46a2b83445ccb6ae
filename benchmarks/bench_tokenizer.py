"""Encode/decode speed of r2d vs `tokenizers`' ByteLevelBPE (RoBERTa's vocabulary) and tiktoken (GPT-2), same lines.

Encodes the same N Wikipedia lines in batches of 1,000 with each tokenizer, interleaved, several rounds; prints
median seconds and the ratio baseline/r2d (>= 1.0 means r2d is at least as fast). "cold" loads a fresh r2d
tokenizer every round (its piece cache starts empty); "warm" encodes the same lines again with the same object.
r2d returns ids + the flag matrix; the others return ids. Compare ratios from one run, not absolute times.

    python benchmarks/bench_tokenizer.py --lines 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import statistics
import time
from pathlib import Path

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared/data/wikipedia_en/enwiki_AA_wiki_00-19.txt.gz"


def load_lines(path: Path, n: int) -> list[str]:
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
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--lines", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    from tokenizers import ByteLevelBPETokenizer

    from r2d.tokenizer.baseline import gpt2_files
    from r2d.tokenizer.hf import R2DTokenizer

    lines = load_lines(args.corpus, args.lines)
    batches = [lines[i:i + args.batch] for i in range(0, len(lines), args.batch)]
    enc_json, vocab_bpe = gpt2_files()
    hf = ByteLevelBPETokenizer(str(enc_json), str(vocab_bpe))
    tt = tiktoken_gpt2()
    R2DTokenizer.from_pretrained("r2d-en")  # import and file-cache warm-up, not timed

    def r2d_cold():
        tok = R2DTokenizer.from_pretrained("r2d-en")
        t = time.perf_counter()
        for b in batches:
            enc = tok(b)
            enc["input_ids"], enc["flags"]
        return time.perf_counter() - t, tok

    times: dict[str, list[float]] = {k: [] for k in
                                      ("r2d cold", "r2d warm", "tokenizers", "tiktoken", "r2d decode",
                                       "tokenizers decode", "tiktoken decode")}
    for _ in range(args.rounds):
        cold, tok = r2d_cold()
        times["r2d cold"].append(cold)
        t = time.perf_counter()
        r2d_out = [tok(b) for b in batches]
        times["r2d warm"].append(time.perf_counter() - t)
        t = time.perf_counter()
        hf_out = [[e.ids for e in hf.encode_batch(b)] for b in batches]
        times["tokenizers"].append(time.perf_counter() - t)
        t = time.perf_counter()
        tt_out = [tt.encode_ordinary_batch(b) for b in batches]
        times["tiktoken"].append(time.perf_counter() - t)
        t = time.perf_counter()
        r2d_text = [tok.batch_decode(e["input_ids"], e["flags"]) for e in r2d_out]
        times["r2d decode"].append(time.perf_counter() - t)
        t = time.perf_counter()
        hf_text = [hf.decode_batch(ids) for ids in hf_out]
        times["tokenizers decode"].append(time.perf_counter() - t)
        t = time.perf_counter()
        tt_text = [tt.decode_batch(ids) for ids in tt_out]
        times["tiktoken decode"].append(time.perf_counter() - t)
        assert list(itertools.chain.from_iterable(r2d_text)) == lines
        assert list(itertools.chain.from_iterable(tt_text)) == lines
        del hf_text

    med = {k: statistics.median(v) for k, v in times.items()}
    nbytes = sum(len(x.encode()) for x in lines)
    rows = sum(len(ids) for e in r2d_out for ids in e["input_ids"])
    print(f"{len(lines):,} lines, {nbytes / 1e6:.1f} MB, batches of {args.batch}, median of {args.rounds} rounds")
    print(f"r2d rows (with <s> </s>): {rows:,}; tokenizers ids: {sum(len(x) for b in hf_out for x in b):,}")
    print(f"{'what':<22}{'median s':>10}{'MB/s':>8}{'baseline/r2d':>15}")
    for k in ("r2d cold", "r2d warm", "tokenizers", "tiktoken"):
        print(f"{'encode ' + k:<22}{med[k]:>10.3f}{nbytes / 1e6 / med[k]:>8.2f}")
    for k in ("r2d decode", "tokenizers decode", "tiktoken decode"):
        print(f"{k:<22}{med[k]:>10.3f}{nbytes / 1e6 / med[k]:>8.2f}")
    print("ratios (>= 1.0: r2d at least as fast):")
    print(f"  encode, tokenizers / r2d cold: {med['tokenizers'] / med['r2d cold']:.2f}   "
          f"/ r2d warm: {med['tokenizers'] / med['r2d warm']:.2f}")
    print(f"  encode, tiktoken / r2d cold:   {med['tiktoken'] / med['r2d cold']:.2f}   "
          f"/ r2d warm: {med['tiktoken'] / med['r2d warm']:.2f}")
    print(f"  decode, tokenizers / r2d: {med['tokenizers decode'] / med['r2d decode']:.2f}   "
          f"tiktoken / r2d: {med['tiktoken decode'] / med['r2d decode']:.2f}")


if __name__ == "__main__":
    main()
