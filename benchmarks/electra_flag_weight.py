"""Choose the weighting of ELECTRA's sparse "flag changed" targets by measurement (``--flag-change-weight``).

Short R2D ELECTRA runs through ``r2d pretrain --objective electra``, the same corpus, tokenizer and steps for each
weighting and seed; each is scored on its held-out rows (the run's last evaluation): the macro F1 of the per-flag
change detection, each flag's F1, and the F1 of root-replaced detection (a weighting that helps the flags must not
cost the roots). Decisions are the discriminator's own (``sigmoid(logit) >= 0.5``). Prints a Markdown table, mean
± std over seeds; the choice is recorded in BENCHMARKS.md.

Example::

    python benchmarks/electra_flag_weight.py --out /tmp/electra-weight            # ~20 minutes on 2 cores
    python benchmarks/electra_flag_weight.py --out /tmp/electra-weight --quick    # ~1 minute: the plumbing
    python benchmarks/electra_flag_weight.py --out /tmp/ew --weights 1 rate --seeds 0 1 2 --steps 600
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "wikipedia_en" / "enwiki_AA_wiki_00-19.txt.gz"
WEIGHTS = ("1", "3", "sqrt-rate", "rate")
# (preset, steps, batch, max length, documents, vocabulary, seeds, weightings); QUICK runs the plumbing only
DEFAULT = dict(preset="micro", steps=300, batch_size=16, max_length=128, docs=4000, vocab_size=4096, seeds=(0, 1),
               weights=WEIGHTS)
QUICK = dict(preset="tiny", steps=12, batch_size=8, max_length=64, docs=150, vocab_size=600, seeds=(0,),
             weights=("1", "rate"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("Example::")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for the tokenizer, the corpus sample and one run per cell")
    p.add_argument("--corpus", default=[str(CORPUS)], nargs="+", help="text file(s) of documents (.txt or .txt.gz)")
    p.add_argument("--quick", action="store_true", help="tiny models, a few steps, one seed, two weightings (~1 min)")
    p.add_argument("--weights", nargs="+", help=f"--flag-change-weight values to compare (default: {' '.join(WEIGHTS)})")
    p.add_argument("--seeds", nargs="+", type=int, help="pretraining seeds (default: 0 1)")
    p.add_argument("--steps", type=int, help="optimizer steps per run (default: 300; --quick 12)")
    p.add_argument("--preset", help="model size of r2d pretrain (default: micro; --quick tiny)")
    p.add_argument("--docs", type=int, help="documents read from the corpus (default: 4000; --quick 150)")
    return p.parse_args(argv)


def settings(a: argparse.Namespace) -> dict:
    s = dict(QUICK if a.quick else DEFAULT)
    for key in ("weights", "seeds", "steps", "preset", "docs"):
        if getattr(a, key) is not None:
            s[key] = tuple(getattr(a, key)) if key in ("weights", "seeds") else getattr(a, key)
    return s


def prepare(out: Path, corpus: list[str], s: dict) -> tuple[Path, Path]:
    """The corpus sample (one document a line) and an R2D tokenizer trained on its training share, made once."""
    from r2d.tokenizer.hf import R2DTokenizer
    from r2d.training.data import iter_corpus_documents, train_documents

    text, tok = out / "corpus.txt", out / "tokenizer"
    if not text.is_file():
        docs = [" ".join(d.split()) for d in iter_corpus_documents(corpus, s["docs"])]
        text.write_text("".join(d + "\n" for d in docs if d), encoding="utf-8")
    if not (tok / "r2d_tokenizer.json").is_file():
        docs = text.read_text(encoding="utf-8").splitlines()
        R2DTokenizer.train(texts=docs[:train_documents(len(docs), 0.02)], vocab_size=s["vocab_size"],
                           model_max_length=s["max_length"]).save_pretrained(str(tok))
    return text, tok


def run_cell(out: Path, text: Path, tok: Path, s: dict, weight: str, seed: int) -> dict:
    """One pretraining run (skipped when its summary exists); returns its last evaluation."""
    from r2d.training.pretrain import PretrainArgs, pretrain

    run = out / f"w-{weight}" / f"seed{seed}"
    if not (run / "summary.json").is_file():
        pretrain(PretrainArgs(
            corpus=[str(text)], out=str(run), model="r2d", objective="electra", preset=s["preset"], tokenizer=str(tok),
            max_steps=s["steps"], batch_size=s["batch_size"], max_length=s["max_length"], pack=True,
            eval_steps=s["steps"], save_steps=s["steps"], logging_steps=max(1, s["steps"] // 10), eval_size=64,
            flag_change_weight=weight, seed=seed, progress=False, save_total_limit=1))
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))["last_eval"]


def table(results: dict[str, list[dict]], flag_names: list[str]) -> str:
    """Markdown: one row per weighting, mean ± std over seeds."""
    def ms(rows: list[dict], key: str) -> str:
        v = [r[key] for r in rows if key in r]
        return "n/a" if not v else f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else f"{v[0]:.3f}"

    head = ["--flag-change-weight", "change macro F1", "replaced F1", *(f"F1 {n}" for n in flag_names)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for weight, rows in results.items():
        lines.append("| " + " | ".join([weight, ms(rows, "eval_change_macro_f1"), ms(rows, "eval_replaced_f1"),
                                        *(ms(rows, f"eval_change_f1_{n}") for n in flag_names)]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    s = settings(a)
    logging.basicConfig(level=logging.WARNING)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    text, tok = prepare(out, list(a.corpus), s)
    results: dict[str, list[dict]] = {}
    for weight in s["weights"]:
        for seed in s["seeds"]:
            results.setdefault(weight, []).append(run_cell(out, text, tok, s, weight, seed))
            print(f"weight {weight}, seed {seed}: done at {time.perf_counter() - t0:.0f} s", flush=True)
    names = json.loads((tok / "r2d_tokenizer.json").read_text(encoding="utf-8"))["flag_names"]
    print(f"\nR2D ELECTRA, {s['preset']}, {s['steps']} steps x {s['batch_size']} x {s['max_length']} rows, seeds "
          f"{list(s['seeds'])}, {s['docs']} documents ({time.perf_counter() - t0:.0f} s):\n")
    print(table(results, list(names)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
