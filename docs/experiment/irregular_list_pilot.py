"""Pilot: does writing irregular verbs whole take away R2D's loss on BLiMP's irregular participles?

    python docs/experiment/irregular_list_pilot.py runs/cpu-fresh runs/pilot/irregular
    r2d experiment --preset cpu --data-dir ../shared/data --out runs/pilot/irregular --no-progress --threads 2

The bundled list gives ``~ed`` to whichever of a verb's past tense and past participle is more frequent when the two
differ (*wore* = wear ~ed but *worn* whole; *hidden* = hide ~ed but *hid* whole), so the flag means "past tense" for
some verbs and "participle" for others (``docs/experiment/irregular_verbs.py``). This pilot keeps **both** whole:
a list entry ``word -> verb ~ed`` is dropped when ``word`` is an irregular form (not the one the ``~ed`` spelling rule
gives: *spelled* and *fitted* keep their split), ``lemminflect`` gives the verb a past tense and a participle that
differ, and ``word`` is only one of them (*paid*, past tense and participle of *pay*, keeps its split).

Once it has run, ``python docs/experiment/irregular_list_pilot.py --compare runs/cpu-fresh runs/pilot/irregular``
sets the pilot's R2D against RUN's on BLiMP and bits per byte, with paired bootstrap intervals of the difference.

(``r2d build-list --irregular-verbs whole`` builds such a list from scratch with the same rule. There a claim the
rule frees goes to the verb's regular past form where it has one, so its list has 13 entries this one lacks:
*showed*, *lighted*, *swelled*, *ringed*, *sewed*, *sowed*, *teared*, *cleaved*, *paneled*, *slayed*, *sheared*,
*weaved*, *strived*, each ``verb ~ed``.)

The first command writes that list, trains the R2D tokenizer of the finished run RUN again with it (same text, same
vocabulary size) and lays out PILOT so that ``r2d experiment`` redoes only what the R2D tokenizer changes: the causal
R2D models (pretraining, bits per byte, BLiMP, fine-tuning with its untrained and LoRA rows). The twin's stages and
folders are RUN's own, linked, so the report sets the new R2D against the same twin.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def dropped_entries(entries) -> list:
    """The ``~ed`` entries that name one of two past forms (:func:`r2d.lists.english.one_of_two_past_forms`)."""
    from r2d.lists.english import one_of_two_past_forms

    return [e for e in entries if e.root is not None and not e.prefixes and e.suffixes == ("~ed",)
            and one_of_two_past_forms(e.word, e.root)]


def compare(run: Path, pilot: Path, data_dir: Path) -> None:
    """Print the pilot's causal R2D against RUN's (and RUN's twin): BLiMP overall and per paradigm, bits per byte;
    each PILOT - RUN difference with its paired bootstrap interval over the shared items (pairs, documents)."""
    import numpy as np

    from r2d.evaluation.blimp import read_pairs
    from r2d.evaluation.bootstrap import mean_stat, paired_bootstrap, ratio_stat

    def stage(folder: Path, name: str) -> dict:
        return json.loads((folder / "stages" / f"{name}.json").read_text(encoding="utf-8"))

    def last_step(folder: Path, name: str, seed: int) -> int:
        return max(int(p.stem.split("step-")[-1])
                   for p in (folder / "stages").glob(f"eval__bpb__{name}__seed{seed}__step-*.json"))

    seeds = sorted(int(p.stem.split("seed")[-1]) for p in (pilot / "stages").glob("eval__blimp__clm-r2d__seed*.json"))
    rows = {"before": (run, "clm-r2d"), "whole": (pilot, "clm-r2d"), "twin": (run, "clm-bpe")}
    right = {k: np.array([[c == "1" for c in stage(f, f"eval__blimp__{n}__seed{s}")["right"]] for s in seeds], float)
             for k, (f, n) in rows.items()}
    print(f"seeds {seeds}: means over seeds; whole - before with its 95% paired bootstrap interval\n")
    print("| measure | R2D, list as shipped | R2D, irregular verbs whole | twin | whole - shipped |")
    print("|---|---|---|---|---|")

    def line(label: str, stats: dict, n: int) -> None:
        d = paired_bootstrap(stats["whole"], stats["before"], n)
        vals = " | ".join(f"{stats[k](np.arange(n)):.3f}" for k in rows)
        print(f"| {label} | {vals} | {d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] |")

    line("BLiMP, all pairs", {k: mean_stat(v) for k, v in right.items()}, right["twin"].shape[1])
    uids = [p.uid for p in read_pairs(data_dir / "blimp")]  # the stages' pair order
    for uid in dict.fromkeys(uids):
        idx = np.flatnonzero(np.array(uids) == uid)
        line(f"BLiMP, {uid}", {k: mean_stat(v[:, idx]) for k, v in right.items()}, len(idx))
    for ds in ("wikipedia_heldout", "wikitext2"):
        docs = {k: [stage(f, f"eval__bpb__{n}__seed{s}__step-{last_step(f, n, s)}")[ds] for s in seeds]
                for k, (f, n) in rows.items()}
        line(f"bits per byte, {ds}", {k: ratio_stat([d["bits"] for d in v], [d["bytes"] for d in v])
                                      for k, v in docs.items()}, len(docs["twin"][0]["bits"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished `r2d experiment` folder (its twin is reused)")
    parser.add_argument("pilot", type=Path, help="the pilot's output folder (must not exist)")
    parser.add_argument("--compare", action="store_true", help="compare a finished pilot with RUN instead")
    parser.add_argument("--data-dir", default="../shared/data", help="for --compare: BLiMP's files (pair order)")
    args = parser.parse_args()
    if args.compare:
        compare(args.run, args.pilot, Path(args.data_dir))
        return

    from r2d.lists.deconstruct import DeconstructionList, read_entries
    from r2d.lists.english import default_list_path
    from r2d.tokenizer.hf import R2DTokenizer

    run, pilot = args.run, args.pilot
    pilot.mkdir(parents=True)
    entries = list(read_entries(default_list_path()))
    drop = {e.word for e in dropped_entries(entries)}
    kept = [e for e in entries if e.word not in drop]
    lst = DeconstructionList(kept, path="<pilot list>")
    list_path = pilot / "list.tsv"
    list_path.write_text("".join(f"{e.word}\t{e.deconstruction}\n" for e in kept), encoding="utf-8")
    print(f"dropped {len(drop)} of {len(entries)} entries: {', '.join(sorted(drop)[:12])}, ...")

    stages = run / "stages"
    toks = json.loads((stages / "tokenizers.json").read_text(encoding="utf-8"))
    corpus = json.loads((stages / "corpus.json").read_text(encoding="utf-8"))
    old = R2DTokenizer.from_pretrained(toks["r2d"])
    tok = R2DTokenizer.train([corpus["train_file"]], vocab_size=len(old), deconstruction_list=lst,
                             model_max_length=old.model_max_length)
    tok.save_pretrained(str(pilot / "tokenizers" / "r2d"))
    sample = Path(corpus["heldout_file"]).read_text(encoding="utf-8").splitlines()[:200]
    nbytes = sum(len(s.encode("utf-8")) for s in sample)
    rows = sum(len(x) for x in tok(sample, add_special_tokens=False)["input_ids"])
    toks["r2d"] = str(pilot / "tokenizers" / "r2d")
    toks["rows_per_1000_bytes_heldout"]["r2d"] = round(1000 * rows / nbytes, 2)
    toks["list"] = str(list_path)
    print(f"R2D rows per 1000 held-out bytes: {toks['rows_per_1000_bytes_heldout']['r2d']}")

    # the twin's stages and folders are RUN's; everything of the causal R2D (and the report) is redone
    (pilot / "stages").mkdir()
    for marker in stages.glob("*.json"):
        if "clm-r2d" not in marker.name and marker.name not in ("report.json", "tokenizers.json"):
            shutil.copy2(marker, pilot / "stages" / marker.name)
    (pilot / "stages" / "tokenizers.json").write_text(json.dumps(toks, indent=2) + "\n", encoding="utf-8")
    for sub in ("pretrain/clm-bpe", *(str(p.relative_to(run)) for p in run.glob("finetune/*/clm-bpe*"))):
        (pilot / sub).parent.mkdir(parents=True, exist_ok=True)
        (pilot / sub).symlink_to((run / sub).resolve())
    print(f"now: r2d experiment --preset cpu --data-dir ../shared/data --out {pilot} --no-progress --threads 2")


if __name__ == "__main__":
    main()
