"""The comparison's rules as text (:func:`protocol_lines`), the ``cpu`` preset's signal test (:func:`signal`) and the
verdict on each paired comparison (:func:`verdict`), all computed from the report's summary. No torch.
"""

from __future__ import annotations

from collections.abc import Mapping

from r2d.evaluation.bootstrap import intervals_overlap

PAIRS = (("clm", ("r2d", "bpe")), ("mlm", ("r2d", "roberta")), ("electra", ("r2d", "roberta")))
"""the compared pairs: objective, (the 2D model's kind, its 1D baseline's kind); run names are ``OBJECTIVE-KIND``
(``electra-roberta``: the 1D ELECTRA twin on the byte-level BPE)"""
UNTRAINED = "untrained"
"""the suffix of an untrained row's run name (``clm-bpe-untrained``)"""

BLIMP_REFERENCE = {"5-gram": 0.612, "LSTM": 0.698, "Transformer-XL": 0.696, "GPT-2": 0.830, "humans": 0.886}
"""Published BLiMP accuracies over all 67 paradigms (Warstadt et al. 2020)."""


def protocol_lines(settings: Mapping) -> list[str]:
    """The rules of the comparison, filled in with the run's sizes (``settings["sizes"]``) and the pair its LoRA
    comparison ran on (``settings["lora_objective"]``); a run without the MLM pair (``mlm_steps`` 0) describes the
    causal pair alone."""
    z = settings.get("sizes", {})
    vocab = settings.get("tokenizers", {}).get("vocab_size", {})
    mlm = bool(z.get("mlm_steps"))
    lora = settings.get("lora_objective")  # the pair LoRA ran on (r2d.experiment.units.lora_objective), or None
    return [
        "Pairs: causal R2D vs its 1D twin (the same decoder without flags, on a byte-level BPE)"
        + ("; MLM R2D vs RoBERTa" if mlm else " (the MLM pair is not run: see what this run leaves out)")
        + f". Both models of a pair have the same size preset ({z.get('model_preset')}: the same "
        f"non-embedding layers) and vocabularies of the same size ({vocab}), both tokenizers trained on the same "
        f"{settings.get('corpus', {}).get('train_bytes', '?')} bytes of Wikipedia.",
        f"Equal compute: every pretraining run sees the same number of rows: {z.get('batch_size')} sequences x "
        f"{z.get('max_length')} rows per step, packed (no padding), {z.get('causal_steps')} steps (causal)"
        + (f" and {z.get('mlm_steps')} steps (MLM)" if mlm else "")
        + ", with the same seeds, learning rate and schedule.",
        f"Seeds: causal pair {list(z.get('causal_seeds', []))}; "
        + (f"MLM pretraining {list(z.get('mlm_seeds', []))}; " if mlm else "")
        + f"fine-tuning {list(z.get('seeds', []))}. Final numbers are mean +- sample std over seeds.",
        "Learning curves: bits per byte at log-spaced steps (the same rows seen for both models of a pair), against "
        f"rows seen and against training seconds, on the first {z.get('curve_docs')} held-out documents.",
        "Untrained rows: every evaluation also scores each model kind with its initial weights (the step-0 "
        "snapshot of the same seed: same architecture, no pretraining).",
        f"BLiMP: {_pairs(z.get('blimp_limit'))} of each paradigm, for the causal pair by full-sentence "
        "log-probability" + ("; for the MLM pair by pseudo-log-likelihood (each row masked in turn, root and flags)"
                             if mlm and z.get("blimp_mlm") else "; the MLM pair is not scored" if mlm else "") + ".",
        "Held-out text: Wikipedia paragraphs of a shard no tokenizer or model was trained on, and whole articles "
        "of wikitext-2-raw's test split, every byte of the file kept (line breaks and blank lines are text); bits per "
        "byte = all bits a model spends on a document (roots, free flags, end of document) / its UTF-8 bytes.",
        *([f"ELECTRA arm: R2D ELECTRA and its 1D twin (generator a third as deep, the discriminator the MLM models' "
           f"size) trained for the steps that give the MLM pair's estimated training FLOPs (6 x parameters used per "
           f"row x rows, the vocabulary heads on masked rows only), the same rows per step and seeds; the four "
           f"models and the MLM pair's untrained rows fine-tuned on {list(z.get('electra_tasks', []))}"
           + (f" (training examples capped: {dict(z['electra_max_train_samples'])})"
              if z.get("electra_max_train_samples") else "")
           + "; detection scored on the held-out rows of the pretraining corpus, each discriminator's own decision "
           "(probability >= 0.5)."] if z.get("electra") else []),
        *([f"Flag sets (the ablation): besides the pair's R2D model (the default flags), causal R2D models with the "
           f"flag sets {', '.join(z['flag_arms'])}, each with its own tokenizer of the same vocabulary size trained "
           "on the same text, and the same model size, rows, steps, seeds and evaluations as the pair (not "
           "fine-tuned)."] if z.get("flag_arms") else []),
        "Intervals: paired bootstrap (1,000 resamples, 95%) of the difference of seed means, resampling the shared "
        "items: documents for bits per byte, minimal pairs for BLiMP, test examples for fine-tuning"
        + (", masked rows for per-flag F1." if mlm else "."),
        "Fine-tuning: " + (f"the MLM pair on {list(z.get('tasks', []))} and " if mlm else "")
        + f"the causal pair on {list(z.get('causal_tasks', []))} (the first pretraining seed's final and untrained "
        "models; the causal models read the pair through a head on the last row)"
        + (f"; LoRA (rank {z.get('lora_r')}) against full fine-tuning once, on the pretrained R2D "
           f"{'MLM' if lora == 'mlm' else 'causal model'} and the first task" if lora else "")
        + f"; dev set of {z.get('dev_size')} examples carved (seeded) from the training set; evaluation "
        f"every {z.get('finetune_eval_steps')} steps on dev, early stopping after {z.get('patience')} evaluations "
        f"without improvement (at most {z.get('finetune_epochs')} epochs); the best-dev weights are scored on the "
        "task's validation split (the test here).",
    ]


def _pairs(limit: int | None) -> str:
    return "all pairs" if limit is None else f"the first {limit} pairs"


def _seeds(x: Mapping) -> str:
    return f"{x['mean']:.4f} +- {x['std']:.4f}" if x["n"] > 1 else f"{x['mean']:.4f}"


def _interval(c: Mapping) -> str:
    return f"{c['level']:.0%} interval [{c['low']:+.4f}, {c['high']:+.4f}]"


def verdict(comparisons: list[Mapping]) -> list[str]:
    """One sentence per comparison: who is ahead, by how much, and whether the interval excludes zero.

    Args:
        comparisons: rows ``{"what", "a", "b", "a_mean", "b_mean", "difference", "low", "high", "level",
            "excludes_zero", "higher_is_better"}``; ``difference = a_mean - b_mean``.
    """
    lines = []
    for c in comparisons:
        d = c["difference"]
        better_a = (d > 0) == c["higher_is_better"]
        if d == 0:
            lead = "tie"
        else:
            lead = f"{c['a'] if better_a else c['b']} ahead by {abs(d):.4f}"
        sure = "excludes zero" if c["excludes_zero"] else "includes zero (not distinguishable)"
        lines.append(f"{c['what']}: {c['a']} {c['a_mean']:.4f} vs {c['b']} {c['b_mean']:.4f} "
                     f"({'higher' if c['higher_is_better'] else 'lower'} is better): {lead}; {c['a']} - {c['b']} = "
                     f"{d:+.4f}, {_interval(c)} {sure}.")
    return lines


def signal(summary: Mapping) -> dict:
    """The ``cpu`` preset's signal: each pretrained model above its untrained row on BLiMP and on every
    fine-tuning task it ran, the seed intervals (mean +- std) not overlapping.

    A row of one seed has no seed interval: its check has ``"apart": None``, is listed, and counts neither for nor
    against the signal (its paired bootstrap over items is among the comparisons).

    Returns:
        ``{"checks": [{"what", "trained", "untrained", "apart", "above"}], "shown": bool}``; ``shown`` needs at
        least one check with seed intervals and every such check above and apart.
    """
    checks = []

    def check(what: str, t: Mapping | None, u: Mapping | None) -> None:
        if not t or not u:
            return
        apart = not intervals_overlap(t, u) if min(t["n"], u["n"]) > 1 else None
        checks.append({"what": what, "trained": t, "untrained": u, "apart": apart,
                       "above": bool(t["mean"] > u["mean"])})

    for run, fields in summary.get("blimp_seeds", {}).items():
        if "untrained" not in run:
            check(f"BLiMP overall, {run}", fields.get("overall"), summary["blimp_seeds"].get(f"{run}-untrained", {}).get("overall"))
    for task, runs in summary.get("finetune", {}).items():
        for run, row in runs.items():
            if "untrained" in run or "lora" in run:
                continue
            head = row.get("headline")
            other = runs.get(f"{run}-untrained", {})
            check(f"{task} {head}, {run}", row.get(head), other.get(head))
    seeded = [c for c in checks if c["apart"] is not None]
    return {"checks": checks, "shown": bool(seeded) and all(c["apart"] and c["above"] for c in seeded)}


def signal_lines(sig: Mapping) -> list[str]:
    """The signal checks as sentences with their figures."""
    out = []
    for c in sig["checks"]:
        t, u = c["trained"], c["untrained"]
        state = ("above" if c["above"] else "not above") + (
            ", one seed: no seed interval (not counted; its paired bootstrap is among the comparisons)"
            if c["apart"] is None else ", intervals apart" if c["above"] and c["apart"] else
            ", intervals overlap" if c["above"] else "")
        out.append(f"{c['what']}: pretrained {_seeds(t)} vs untrained {_seeds(u)} (n={t['n']}/{u['n']}): {state}.")
    out.append("Signal shown: " + ("yes" if sig["shown"] else "no") + ".")
    return out


__all__ = ["BLIMP_REFERENCE", "protocol_lines", "verdict", "signal", "signal_lines"]
