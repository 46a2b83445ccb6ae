"""Does a pretrained MLM use its context? Masked-row loss with the real context against the same masked rows with
every unmasked row of the batch shuffled among the batch's sequences (a model that only learned the unigram
distribution scores both the same).

    python docs/experiment/context_use.py runs/cpu/pretrain/mlm-r2d/seed0/model \\
        runs/cpu/pretrain/mlm-roberta/seed0/model --text runs/cpu/corpus/heldout.txt

Prints one row per model: masked rows, MLM loss (nats) with the real and the shuffled context, and for R2D the
flag loss of the masked words both ways. Masks, documents and the shuffle are seeded, so both models of a pair see
the same documents masked at the same rate.
"""

from __future__ import annotations

import argparse

import torch


def losses(model_dir: str, docs: list[str], *, seed: int = 0, max_length: int = 128,
           batch_size: int = 32) -> dict[str, float]:
    from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling

    import r2d.modeling.encoder  # noqa: F401  (registers model_type "r2d")
    from r2d.modeling.collator import R2DDataCollatorForMLM
    from r2d.modeling.mlm_batches import MLMBatches
    from r2d.tokenizer.hf import R2DTokenizer
    from r2d.training.data import SequenceDataset, tokenize_documents

    model = AutoModelForMaskedLM.from_pretrained(model_dir).eval()
    r2d = model.config.model_type == "r2d"
    tok = R2DTokenizer.from_pretrained(model_dir) if r2d else AutoTokenizer.from_pretrained(model_dir)
    collator = (R2DDataCollatorForMLM(tok, mlm_probability=0.15) if r2d
                else DataCollatorForLanguageModeling(tok, mlm_probability=0.15))
    num_flags = tok.num_flags if r2d else 0
    ts = tokenize_documents(docs, tok, max_length=max_length, pack=True, with_flags=r2d, num_flags=num_flags)
    batches = MLMBatches(collator, seed, tok.pad_token_id, num_flags)
    examples = batches.premask(SequenceDataset(ts))
    g = torch.Generator().manual_seed(seed)
    sums = {"rows": 0, "mlm_real": 0.0, "mlm_shuffled": 0.0, "flag_real": 0.0, "flag_shuffled": 0.0}
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            batch = batches.pad(examples[start:start + batch_size])
            labels = batch["labels"]
            n = int(labels.ne(-100).sum())
            # the rows a shuffle may move: unmasked, real (not padding), not special
            free = labels.eq(-100) & batch["attention_mask"].bool()
            free &= ~torch.isin(batch["input_ids"], torch.tensor(tok.all_special_ids))
            perm = torch.randperm(int(free.sum()), generator=g)
            shuffled = {k: v.clone() for k, v in batch.items()}
            for key in ("input_ids", "flags"):
                if key in batch:
                    shuffled[key][free] = batch[key][free][perm]
            for name, b in (("real", batch), ("shuffled", shuffled)):
                out = model(**b)
                sums[f"mlm_{name}"] += float(out.mlm_loss if r2d else out.loss) * n
                if r2d:
                    sums[f"flag_{name}"] += float(out.flag_loss) * n
            sums["rows"] += n
    rows = max(1, sums["rows"])
    res = {"kind": "r2d" if r2d else model.config.model_type, "rows": sums["rows"]}
    for key in ("mlm_real", "mlm_shuffled") + (("flag_real", "flag_shuffled") if r2d else ()):
        res[key] = sums[key] / rows
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="MLM model folders (OUT/model of r2d pretrain)")
    ap.add_argument("--text", required=True, help="held-out text, one document per line")
    ap.add_argument("--docs", type=int, default=400, help="documents of --text to read (default 400)")
    a = ap.parse_args(argv)
    from r2d.io import read_text

    docs = [line for line in read_text(a.text).split("\n") if line.strip()][:a.docs]
    print("| model | masked rows | MLM loss, real context | MLM loss, shuffled context | difference | "
          "flag loss, real | flag loss, shuffled |\n|---|---|---|---|---|---|---|")
    for m in a.models:
        r = losses(m, docs)
        flags = f"{r['flag_real']:.3f} | {r['flag_shuffled']:.3f}" if "flag_real" in r else " | "
        print(f"| {m} | {r['rows']:,} | {r['mlm_real']:.3f} | {r['mlm_shuffled']:.3f} | "
              f"{r['mlm_shuffled'] - r['mlm_real']:+.3f} | {flags} |")


if __name__ == "__main__":
    main()
