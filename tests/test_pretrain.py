"""Tests of the pretraining recipe (``r2d pretrain``) and the shared training utilities (:mod:`r2d.training.trainer`).

CLI smoke runs use the ``tiny`` preset, a tiny trained tokenizer and a generated corpus.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import write_stsb
from r2d.cli import main
from r2d.io import InputError
from r2d.modeling.mlm_batches import MLMBatches
from r2d.text.corpus import iter_documents
from r2d.training.data import SequenceDataset, tokenize_documents
from r2d.tokenizer.rates import flag_rates_from_rows, pos_weights
from r2d.training.flag_metrics import binary_prf
from r2d.training.trainer import last_checkpoint, read_metrics

WORDS = ("the park parks ride riding rides enjoyed enjoy Australia Australia's in of and a I NASA It's walked "
         "walking community communities house houses The Dogs dog run ran").split()


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 25))) + rng.choice([".", "!", "?", ","])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("corpus") / "lines.txt"
    path.write_text("".join(sentence(rng) + "\n" for _ in range(160)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    from r2d.tokenizer.hf import R2DTokenizer

    counts = {w: 10 + i for i, w in enumerate(WORDS)}
    tok = R2DTokenizer.train(word_counts=counts, vocab_size=300)
    d = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(d)
    return d


def run(*args: str) -> int:
    return main(["pretrain", "--preset", "tiny", "--no-progress", "--max-length", "32", "--batch-size", "4",
                 "--seed", "0", *args])


# ------------------------------------------------------------------------------------------------ corpus


def test_wikiextractor_markup_is_dropped(tmp_path):
    p = tmp_path / "wiki.txt.gz"
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write('<doc id="1" url="x" title="A">\nA\n\nFirst line.\nSecond line.\n</doc>\n'
                '<doc id="2" url="y" title="B">\nB\nOnly line.\n</doc>\n')
    assert list(iter_documents([p])) == ["A\nFirst line.\nSecond line.", "B\nOnly line."]
    q = tmp_path / "plain.txt"
    q.write_text("one\n\n two \nthree\n", encoding="utf-8")
    assert list(iter_documents([q])) == ["one", " two ", "three"]


@pytest.mark.parametrize("pack", [False, True])
def test_tokenize_documents_truncates_or_packs(tokenizer_dir, pack):
    from r2d.tokenizer.hf import R2DTokenizer

    tok = R2DTokenizer.from_pretrained(tokenizer_dir)
    rng = random.Random(1)
    docs = [" ".join(sentence(rng) for _ in range(rng.randint(1, 6))) for _ in range(30)]
    data = tokenize_documents(docs, tok, max_length=24, pack=pack, with_flags=True, num_flags=tok.num_flags)
    lengths = np.diff(data.offsets)
    assert (lengths <= 24).all() and len(data.flags) == len(data.ids)
    for i in range(len(data)):
        ids, flags = data.rows(i)
        assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
        assert not flags[[0, -1]].any()
    enc = tok(docs, add_special_tokens=False)
    if pack:
        assert (lengths[:-1] == 24).all()
        # every document row is kept, plus one </s> separator per document
        assert len(data.ids) - 2 * len(data) == sum(len(x) for x in enc["input_ids"]) + len(docs)
    else:
        assert len(data) == len(docs)
        first = enc["input_ids"][0][:22]
        assert data.rows(0)[0][1:-1].tolist() == first
        assert np.array_equal(data.rows(0)[1][1:-1], np.asarray(enc["flags"][0][:22]))


def _batches(tok, seed=3):
    from r2d.modeling.collator import R2DDataCollatorForMLM

    return MLMBatches(R2DDataCollatorForMLM(tok, mlm_probability=0.5), seed=seed, pad_id=tok.pad_token_id,
                      num_flags=tok.num_flags)


def _data(tok, n=10, seed=2):
    rng = random.Random(seed)
    return tokenize_documents([sentence(rng) for _ in range(n)], tok, max_length=32, pack=False, with_flags=True,
                              num_flags=tok.num_flags)


def test_premasked_eval_batches_are_fixed_and_padded(tokenizer_dir):
    from r2d.tokenizer.hf import R2DTokenizer

    tok = R2DTokenizer.from_pretrained(tokenizer_dir)
    data = _data(tok)
    batches = _batches(tok)
    a, b = batches.premask(SequenceDataset(data)), batches.premask(SequenceDataset(data))
    assert all(all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a, b))
    padded = batches(a[:3])
    assert set(padded) == {"input_ids", "attention_mask", "flags", "hidden_flags", "labels", "flag_labels"}
    n = len(a[0]["input_ids"])
    assert padded["labels"][0, :n].tolist() == a[0]["labels"].tolist()
    assert (padded["labels"][padded["attention_mask"] == 0] == -100).all()
    assert (padded["hidden_flags"][padded["attention_mask"] == 0] == 0).all()


def test_an_example_mask_depends_on_seed_epoch_and_index_only(tokenizer_dir):
    """The same example gets the same mask in any batch position or batch, a new one in the next epoch."""
    from r2d.tokenizer.hf import R2DTokenizer

    tok = R2DTokenizer.from_pretrained(tokenizer_dir)
    data = SequenceDataset(_data(tok))
    n = len(data)
    batches = _batches(tok)
    forward = batches([data[i] for i in range(4)])
    backward = batches([data[i] for i in (3, 2, 1, 0, 7)])
    for i in range(4):
        j = 3 - i
        m = len(data[i]["input_ids"])
        assert all(torch_equal(forward[k][i, :m], backward[k][j, :m]) for k in forward)
    epoch1 = batches([data[n + i] for i in range(4)])  # item epoch * N + i: sequence i seen in epoch 1
    assert torch_equal(epoch1["attention_mask"], forward["attention_mask"])
    assert not torch_equal(epoch1["labels"], forward["labels"])
    assert not torch_equal(_batches(tok, seed=4)([data[i] for i in range(4)])["labels"], forward["labels"])


def torch_equal(a, b) -> bool:
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _loader_masks(data, batches, sampler, workers: int, epochs: int = 2) -> list[dict]:
    from torch.utils.data import DataLoader

    loader = DataLoader(data, batch_size=3, sampler=sampler, collate_fn=batches, num_workers=workers)
    out = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        out += [dict(b) for b in loader]
    return out


def test_masks_equal_across_worker_counts_and_distinct_across_batches(tokenizer_dir):
    from r2d.tokenizer.hf import R2DTokenizer
    from r2d.training.data import EpochSampler

    tok = R2DTokenizer.from_pretrained(tokenizer_dir)
    data = SequenceDataset(_data(tok, n=12))
    batches = _batches(tok)
    serial = _loader_masks(data, batches, EpochSampler(len(data), seed=0), workers=0)
    parallel = _loader_masks(data, batches, EpochSampler(len(data), seed=0), workers=2)
    assert len(serial) == len(parallel) == 2 * 4
    for a, b in zip(serial, parallel):
        assert set(a) == set(b) and all(torch_equal(a[k], b[k]) for k in a)
    selections = {tuple(np.asarray(b["labels"] != -100).flatten().tolist()) for b in serial}
    assert len(selections) == len(serial)  # no two batches share a mask
    # resuming in the middle of an epoch (a fresh sampler at epoch 1, the first batch skipped) draws the same
    sampler = EpochSampler(len(data), seed=0)
    sampler.set_epoch(1)
    from torch.utils.data import DataLoader

    resumed = list(DataLoader(data, batch_size=3, sampler=sampler, collate_fn=batches, num_workers=2))[1:]
    for a, b in zip(serial[5:], resumed):
        assert all(torch_equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_smoke_r2d(tmp_path, corpus, tokenizer_dir, capsys):
    out = tmp_path / "r2d"
    rc = run("--model", "r2d", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir), "--out", str(out),
             "--max-steps", "2", "--eval-steps", "2", "--save-steps", "2", "--logging-steps", "1")
    assert rc == 0
    rows = read_metrics(out / "metrics.jsonl")
    train = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train] == [1, 2]
    assert all(np.isfinite(r["loss"]) and "mlm_loss" in r and "flag_loss" in r for r in train)
    ev = [r for r in rows if "eval_loss" in r]
    assert ev and ev[-1]["step"] == 2
    assert "eval_macro_f1" in ev[-1] and "eval_flag_loss" in ev[-1]
    args = json.loads((out / "args.json").read_text())
    assert args["args"]["model"] == "r2d" and args["args"]["max_steps"] == 2 and args["argv"][:2] == ["r2d", "pretrain"]
    rates = json.loads((out / "flag_rates.json").read_text())
    assert rates["rates"]["NoSpace"] > 0 and rates["pos_weight"]["Suffix_ing"] <= 100
    assert list((out / "runs").rglob("events.out.tfevents*"))
    assert (out / "checkpoint-2" / "r2d_tokenizer.json").exists()

    import torch
    from transformers import AutoModelForMaskedLM

    from r2d.tokenizer.hf import R2DTokenizer

    model = AutoModelForMaskedLM.from_pretrained(out / "model").eval()
    tok = R2DTokenizer.from_pretrained(out / "model")
    assert model.config.model_type == "r2d" and model.config.flag_pos_weight == list(rates["pos_weight"].values())
    enc = tok(["I enjoyed riding in Australia's parks."], return_tensors="pt")
    with torch.no_grad():
        res = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], flags=enc["flags"])
    assert res.flag_logits.shape[-1] == 7
    assert "r2d (tiny): 2 steps" in capsys.readouterr().out
    # the logged flag metrics are those of the saved model on the premasked evaluation rows: F1 of the
    # calibrated probabilities at 0.5, next to predicting "on" everywhere
    from r2d.modeling.collator import R2DDataCollatorForMLM
    from r2d.training.flag_metrics import flag_metrics
    from r2d.training.shards import Shards, ShardSequences

    meta = json.loads((out / "data" / "meta.json").read_text())  # the held-out documents, in the run's shards
    evals = SequenceDataset(ShardSequences(Shards(meta["shards"]), meta["train_documents"], meta["documents"],
                                           objective="mlm", max_length=32, pack=False, with_flags=True))
    assert len(evals) == meta["eval_sequences"]
    batches = MLMBatches(R2DDataCollatorForMLM(tok), seed=0, pad_id=tok.pad_token_id, num_flags=tok.num_flags)
    batch = batches(batches.premask(evals))
    with torch.no_grad():
        res = model(**batch)
    expected = flag_metrics(res.flag_probs, batch["flag_labels"], tok.flag_names)
    for name in tok.flag_names:
        for key in (f"f1_{name}", f"always_on_f1_{name}", f"support_{name}"):
            assert ev[-1][f"eval_{key}"] == pytest.approx(expected[key], abs=1e-6), key
    assert any(expected[f"support_{n}"] for n in tok.flag_names)
    from r2d.analysis.plots import flag_f1_keys  # the report finds the F1s, not the always-on baselines

    assert flag_f1_keys(rows) == {n: f"eval_f1_{n}" for n in tok.flag_names}


def test_cli_smoke_roberta(tmp_path, corpus):
    out = tmp_path / "rob"
    rc = run("--model", "roberta", "--corpus", str(corpus), "--out", str(out), "--max-steps", "2",
             "--eval-steps", "2", "--save-steps", "2", "--eval-size", "8")
    assert rc == 0
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    assert not any("flag_loss" in r for r in rows)
    ev = [r for r in rows if "eval_loss" in r][-1]
    assert "eval_mlm_accuracy" in ev and not any(k.startswith("eval_f1_") for k in ev)
    from transformers import AutoModelForMaskedLM

    assert AutoModelForMaskedLM.from_pretrained(out / "model").config.model_type == "roberta"


def _losses(out: Path) -> list[tuple]:
    return [(r["step"], r.get("loss"), r.get("eval_loss")) for r in read_metrics(out / "metrics.jsonl")
            if "train_runtime" not in r]


def test_worker_processes_do_not_change_the_run(tmp_path, corpus, tokenizer_dir):
    """Two DataLoader workers (over 3 epochs of 3 batches) train exactly like none: the same masks."""
    common = ["--model", "r2d", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir), "--max-docs", "12",
              "--max-steps", "8", "--eval-steps", "8", "--save-steps", "8", "--logging-steps", "1"]
    for workers in (0, 2):
        assert run(*common, "--num-workers", str(workers), "--out", str(tmp_path / f"w{workers}")) == 0
    a, b = _losses(tmp_path / "w0"), _losses(tmp_path / "w2")
    assert [s for s, _, _ in a if s] == [1, 2, 3, 4, 5, 6, 7, 8, 8]
    assert a == b


def _killed_after_checkpoint_2(full: Path, cut: Path) -> Path:
    """A copy of the finished 4-step run ``full`` as if killed right after checkpoint-2: later checkpoints and the
    final model never happened, a half-written checkpoint-4 folder is left behind, metrics.jsonl has lines beyond
    step 2."""
    shutil.copytree(full, cut)
    shutil.rmtree(cut / "model")
    (cut / "checkpoint-4" / "trainer_state.json").unlink()
    return cut


def test_resume_reproduces_the_uninterrupted_run(tmp_path, corpus, tokenizer_dir):
    common = ["--model", "r2d", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir), "--max-steps", "4",
              "--eval-steps", "2", "--save-steps", "2", "--save-total-limit", "3", "--num-workers", "2"]
    full = tmp_path / "full"
    assert run(*common, "--out", str(full)) == 0
    cut = _killed_after_checkpoint_2(full, tmp_path / "cut")
    assert last_checkpoint(cut) == str(cut / "checkpoint-2")
    assert run(*common, "--out", str(cut)) == 2  # refuses to overwrite without --resume
    assert run(*common, "--out", str(cut), "--resume") == 0
    a, b = read_metrics(full / "metrics.jsonl"), read_metrics(cut / "metrics.jsonl")
    key = lambda rows: [(r["step"], r.get("loss"), r.get("eval_loss")) for r in rows if "train_runtime" not in r]
    assert key(a) == key(b)
    assert json.loads((cut / "args.json").read_text())["resumed"]


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["pretrain", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--model", "--preset", "--corpus", "--resume", "--pack", "--whole-word-mask", "--max-minutes",
                   "--flag-combine", "example:"):
        assert option in text


def test_bad_input_exits_2_naming_the_problem(tmp_path, corpus, capsys):
    """One line on stderr naming the option or file, exit status 2, and no output folder."""
    one = tmp_path / "one.txt"
    one.write_text("just one document\n", encoding="utf-8")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\u00e9 au lait\nsecond document\n".encode("latin-1"))
    (tmp_path / "folder.txt").mkdir()
    out = str(tmp_path / "o")
    cases = [
        (["--corpus", str(tmp_path / "missing.txt")], f"--corpus {tmp_path / 'missing.txt'}: no such file"),
        (["--corpus", str(tmp_path / "folder.txt")], "folder.txt: is a folder"),
        (["--corpus", str(latin1)], "latin1.txt:1: not UTF-8 text"),
        (["--corpus", str(corpus), "--max-steps", "0"], "--max-steps 0: must be >= 1"),
        (["--corpus", str(corpus), "--tokenizer", str(tmp_path)], f"--tokenizer {tmp_path}: "),
        (["--model", "roberta", "--corpus", str(one)], "one.txt: found 1 document(s); need at least 2"),
    ]
    for argv, message in cases:
        assert run(*argv, "--out", out) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("r2d pretrain: error: ") and message in err, (argv, err)
        assert not Path(out).exists(), argv
    with pytest.raises(SystemExit) as exc:
        run("--corpus", str(corpus), "--out", out, "--preset", "huge")
    assert exc.value.code == 2 and "invalid choice: 'huge'" in capsys.readouterr().err


@pytest.mark.parametrize("option,value,message", [
    ("--warmup-steps", "-1", "--warmup-steps -1: must be >= 0"),
    ("--seed", "-1", "--seed -1: must be >= 0"),
    ("--seed", str(2**32), f"--seed {2**32}: must be <= {2**32 - 1}"),
    ("--batch-size", "0", "--batch-size 0: must be >= 1"),  # 0 is refused, not read as "the preset's"
    ("--eval-steps", "0", "--eval-steps 0: must be >= 1"),
    ("--save-steps", "0", "--save-steps 0: must be >= 1"),
    ("--logging-steps", "0", "--logging-steps 0: must be >= 1"),
    ("--max-length", "0", "--max-length 0: must be >= "),
    ("--flag-loss-weight", "-1", "--flag-loss-weight -1.0: must be >= 0"),
    ("--weight-decay", "-1", "--weight-decay -1.0: must be >= 0"),
])
def test_options_out_of_range_exit_2_before_anything_is_written(tmp_path, corpus, capsys, option, value, message):
    out = tmp_path / "o"
    assert run("--corpus", str(corpus), "--out", str(out), "--max-steps", "1", option, value) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("r2d pretrain: error: ") and message in err, err
    assert not out.exists()


def _started_run(tmp_path, corpus, tokenizer_dir) -> tuple[Path, list[str]]:
    """A run folder as ``r2d pretrain`` leaves it once started (args.json, a metrics line) and its command line."""
    from r2d.cli.pretrain import build_parser
    from r2d.training.pretrain import with_defaults
    from r2d.training.trainer import save_run_args

    out = tmp_path / "run"
    argv = ["--preset", "tiny", "--no-progress", "--max-length", "32", "--batch-size", "4", "--seed", "0",
            "--model", "r2d", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir), "--out", str(out),
            "--max-steps", "4"]
    save_run_args(out, with_defaults(build_parser().parse(argv)))
    (out / "metrics.jsonl").write_text('{"step": 1, "loss": 5.0}\n', encoding="utf-8")
    return out, argv


def test_resume_with_other_settings_names_each_and_writes_nothing(tmp_path, corpus, tokenizer_dir, capsys):
    out, argv = _started_run(tmp_path, corpus, tokenizer_dir)
    other = tmp_path / "other.txt"
    shutil.copy(corpus, other)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    cases = [
        (["--model", "roberta"], ["model 'r2d' -> 'roberta'"]),
        (["--corpus", str(other)], [f"corpus [{str(corpus)!r}] -> [{str(other)!r}]"]),
        (["--model", "roberta", "--seed", "3", "--max-steps", "8"],
         ["model 'r2d' -> 'roberta'", "seed 0 -> 3", "max_steps 4 -> 8"]),
    ]
    for changed, messages in cases:
        assert main(["pretrain", *argv, *changed, "--resume"]) == 2, changed
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"r2d pretrain: error: --resume {out}: "), err
        assert all(m in err for m in messages), (changed, err)
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_resume_may_change_display_speed_and_time_limits(tmp_path, corpus, tokenizer_dir):
    from r2d.cli.pretrain import build_parser
    from r2d.training.pretrain import check_resume, with_defaults

    out, argv = _started_run(tmp_path, corpus, tokenizer_dir)
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    check_resume(with_defaults(build_parser().parse(
        [*argv, "--out", str(moved), "--resume", "--progress", "--num-workers", "2", "--max-minutes", "5",
         "--compile", "--gradient-checkpointing", "--bf16", "false"])))
    with pytest.raises(InputError, match="eval_size 256 -> 8"):
        check_resume(with_defaults(build_parser().parse([*argv, "--resume", "--eval-size", "8"])))


def test_resume_takes_the_same_corpus_file_however_it_is_named(tmp_path, corpus, tokenizer_dir, monkeypatch):
    """A corpus named by a relative path when the run began and by its absolute path (or a link) now is the same
    file: not a changed setting."""
    from r2d.cli.pretrain import build_parser
    from r2d.training.pretrain import check_resume, with_defaults

    out, argv = _started_run(tmp_path, corpus, tokenizer_dir)
    link = tmp_path / "link.txt"
    link.symlink_to(corpus)
    i = argv.index("--corpus") + 1
    for name in (str(Path(corpus).resolve()), str(link)):
        check_resume(with_defaults(build_parser().parse([*argv[:i], name, *argv[i + 1:], "--resume"])))
    monkeypatch.chdir(Path(corpus).parent)
    check_resume(with_defaults(build_parser().parse([*argv[:i], Path(corpus).name, *argv[i + 1:], "--resume"])))


def test_cli_choices_match_the_library():
    import typing

    from r2d.modeling.configuration import FLAG_COMBINE_METHODS, FLAG_VALUE_MODES
    from r2d.training.pretrain import OBJECTIVES, PretrainArgs
    from r2d.training.trainer import PRESETS

    hints = typing.get_type_hints(PretrainArgs)
    assert typing.get_args(hints["preset"]) == tuple(PRESETS)
    assert typing.get_args(hints["objective"]) == tuple(OBJECTIVES)
    assert typing.get_args(hints["flag_combine"]) == FLAG_COMBINE_METHODS
    assert typing.get_args(hints["flag_values"]) == FLAG_VALUE_MODES


def test_resume_after_kill_9(tmp_path, corpus, tokenizer_dir):
    """A subprocess run over several epochs is killed with SIGKILL after its first checkpoint; --resume reproduces
    the full run exactly (same masks, same losses). Workers: test_resume_reproduces_the_uninterrupted_run."""
    common = ["--model", "r2d", "--preset", "tiny", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir),
              "--max-steps", "40", "--eval-steps", "20", "--save-steps", "4", "--max-length", "32",
              "--batch-size", "4", "--no-progress", "--max-docs", "20"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert main(["pretrain", *common, "--out", str(full)]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "r2d.cli", "pretrain", *common, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    # subtle: 36 steps remain after the first checkpoint, so a loaded machine still kills the run mid-way
    while not any(killed.glob("checkpoint-*/trainer_state.json")):
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "model").exists()
    assert main(["pretrain", *common, "--out", str(killed), "--resume"]) == 0
    key = lambda rows: [(r["step"], r.get("loss"), r.get("eval_loss")) for r in rows if "train_runtime" not in r]
    a, b = read_metrics(full / "metrics.jsonl"), read_metrics(killed / "metrics.jsonl")
    assert [s for s, _, _ in key(b)] == [s for s, _, _ in key(a)]
    assert key(a) == key(b)


# ------------------------------------------------------------------------------------------- training utils


def test_binary_prf_matches_scikit_learn():
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (200, 3))
    labels[rng.random(200) < 0.3] = -100
    preds = rng.integers(0, 2, (200, 3))
    out = binary_prf(preds, labels, ["a", "b", "c"])
    keep = labels[:, 0] != -100
    f1s = []
    for i, n in enumerate("abc"):
        y, p = labels[keep, i], preds[keep, i]
        assert out[f"precision_{n}"] == pytest.approx(precision_score(y, p, zero_division=0))
        assert out[f"recall_{n}"] == pytest.approx(recall_score(y, p, zero_division=0))
        assert out[f"f1_{n}"] == pytest.approx(f1_score(y, p, zero_division=0))
        f1s.append(f1_score(y, p, zero_division=0))
    assert out["macro_f1"] == pytest.approx(np.mean(f1s))


def test_flag_rates_and_pos_weights():
    ids = [np.array([0, 5, 6, 2]), np.array([0, 7, 2, 1])]
    flags = [np.array([[0, 0], [1, 0], [1, 1], [0, 0]]), np.array([[0, 0], [0, 1], [0, 0], [0, 0]])]
    rates = flag_rates_from_rows(ids, flags, [0, 1, 2], ["x", "y"])
    assert rates == {"x": pytest.approx(2 / 3), "y": pytest.approx(2 / 3)}
    assert pos_weights({"x": 0.2, "y": 0.0}, ["x", "y"], max_weight=50) == [pytest.approx(4.0), 50.0]
    assert pos_weights({"x": 0.001}, ["x"], max_weight=100) == [100.0]


def test_last_checkpoint_skips_incomplete(tmp_path):
    assert last_checkpoint(tmp_path) is None
    for step, complete in ((2, True), (4, True), (6, False)):
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        (d / "model.safetensors").write_bytes(b"x")
        if complete:
            (d / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (tmp_path / "checkpoint-6" / "trainer_state.json").write_text('{"global_st')  # cut by a kill
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")


def test_rates_from_rows_equal_the_stats_module(tokenizer_dir):
    from r2d.tokenizer.hf import R2DTokenizer
    from r2d.analysis.stats import flag_rates

    tok = R2DTokenizer.from_pretrained(tokenizer_dir)
    rng = random.Random(5)
    texts = [sentence(rng) for _ in range(20)]
    enc = tok(texts, add_special_tokens=True)
    rows = flag_rates_from_rows(enc["input_ids"], enc["flags"], tok.all_special_ids, tok.flag_names)
    assert rows == pytest.approx(flag_rates(tok, texts))


def test_roberta_whole_word_masking_groups_bpe_pieces():
    import torch

    from r2d.tokenizer.baseline import roberta_tokenizer
    from r2d.modeling.collator import R2DDataCollatorForMLM
    from r2d.modeling.mlm_batches import NoFlags, RobertaWordStarts

    rt = roberta_tokenizer()
    view = RobertaWordStarts(rt)
    vocab = rt.get_vocab()
    assert view.word_start[vocab["\u0120park"]] and not view.word_start[vocab["park"]]
    enc = rt(["Unbelievably, the Australians' riding was extraordinarily uncharacteristic."] * 8)
    feats = [{"input_ids": ids} for ids in enc["input_ids"]]
    out = NoFlags(R2DDataCollatorForMLM(view, mlm_probability=0.4, whole_word_mask=True, seed=0))(feats)
    assert set(out) == {"input_ids", "attention_mask", "labels"}
    ids = torch.tensor(enc["input_ids"])
    sel = out["labels"] != -100
    word = torch.cumsum(torch.as_tensor(view.word_start)[ids] | (torch.arange(ids.shape[1]) == 1), dim=1)
    for b in range(ids.shape[0]):
        for w in word[b, 1:-1].unique():
            rows = (word[b] == w) & ~torch.isin(ids[b], torch.tensor(view.all_special_ids))
            assert sel[b][rows].all() or not sel[b][rows].any()
    assert sel.any() and not sel.all()


def test_compile_trains_like_eager_and_saves_plain_weights(tmp_path, corpus, tokenizer_dir):
    """--compile runs the steps through torch.compile (dynamo compiles graphs), the losses agree with the eager
    run's, and snapshots and the final model are plain weights (no ``_orig_mod.`` prefix) that load anywhere."""
    import torch
    from safetensors.torch import load_file

    common = ["--model", "r2d", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir), "--max-docs", "12",
              "--max-steps", "3", "--eval-steps", "3", "--save-steps", "3", "--logging-steps", "1",
              "--snapshot-steps", "0", "3"]
    assert run(*common, "--out", str(tmp_path / "eager")) == 0
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    assert run(*common, "--compile", "--out", str(tmp_path / "compiled")) == 0
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0
    a, b = _losses(tmp_path / "eager"), _losses(tmp_path / "compiled")
    assert [s for s, _, _ in a] == [s for s, _, _ in b]
    for (_, la, ea), (_, lb, eb) in zip(a, b):
        for x, y in ((la, lb), (ea, eb)):
            # subtle: inductor draws its own dropout masks, so the losses agree closely, not exactly
            assert (x is None) == (y is None) and (x is None or y == pytest.approx(x, rel=0.02))
    for folder in ("model", "snapshots/step-0", "snapshots/step-3"):
        names = set(load_file(tmp_path / "compiled" / folder / "model.safetensors"))
        assert names == set(load_file(tmp_path / "eager" / folder / "model.safetensors")), folder


# ------------------------------------------------------------------------------------------------ ELECTRA


def _stsb(folder: Path) -> Path:
    """A tiny STS-B in the shared/data layout, of this file's sentences."""
    return write_stsb(folder, lambda i: sentence(random.Random(i)), sizes=(("train.tsv", 24), ("dev.tsv", 10)))


@pytest.mark.parametrize("model", ["r2d", "roberta"])
def test_electra_pretrains_saves_loads_and_fine_tunes(tmp_path, corpus, tokenizer_dir, model, capsys):
    """Both ELECTRA kinds through the recipe: loss parts logged, detection metrics at evaluation, the saved pair
    loads through the Auto classes, its discriminator fine-tunes with finite metrics."""
    import torch
    from transformers import AutoModelForPreTraining, AutoModelForSequenceClassification

    from r2d.training.finetune import FinetuneArgs, finetune

    out = tmp_path / model
    tok = ["--tokenizer", str(tokenizer_dir)] if model == "r2d" else ["--train-tokenizer", "400"]
    assert run("--model", model, "--objective", "electra", "--corpus", str(corpus), *tok, "--out", str(out),
               "--max-steps", "3", "--eval-steps", "3", "--save-steps", "3", "--logging-steps", "1") == 0
    rows = read_metrics(out / "metrics.jsonl")
    parts = ("mlm_loss", "replaced_loss") + (("flag_loss", "flag_change_loss") if model == "r2d" else ())
    train = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train] == [1, 2, 3]
    assert all(np.isfinite([r["loss"], *(r[p] for p in parts)]).all() for r in train)
    ev = [r for r in rows if "eval_loss" in r][-1]
    for key in ("eval_replaced_accuracy", "eval_replaced_f1", "eval_replaced_recall", "eval_replaced_rate",
                "eval_always_not_replaced_accuracy", *(f"eval_{p}" for p in parts)):
        assert np.isfinite(ev[key]), key
    assert ev["eval_always_not_replaced_accuracy"] == pytest.approx(1 - ev["eval_replaced_rate"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objective"] == "electra" and summary["last_eval"]["eval_replaced_f1"] == ev["eval_replaced_f1"]
    pair = AutoModelForPreTraining.from_pretrained(out / "model")
    assert pair.config.model_type == ("r2d_electra" if model == "r2d" else "electra_twin")
    assert (out / "model" / "model.safetensors").exists()
    assert pair.config.num_hidden_layers == 2 and pair.generator.config.num_hidden_layers == 1  # tiny: a third
    assert int((pair.vocab_kind == 1).sum()) > 0  # set_vocabulary: the tokenizer's word starts, saved
    if model == "r2d":
        names = pair.config.flag_names
        for key in ("precision", "recall", "f1"):
            assert all(np.isfinite(ev[f"eval_change_{key}_{n}"]) for n in names)
        assert np.isfinite(ev["eval_change_macro_f1"]) and "eval_always_unchanged_accuracy_NoSpace" in ev
        rates = json.loads((out / "flag_rates.json").read_text())
        assert pair.config.flag_pos_weight == list(rates["pos_weight"].values())
        assert pair.config.flag_change_pos_weight == list(rates["flag_change_pos_weight"].values())
        assert pair.config.flag_patterns and [0] * len(names) in pair.config.flag_patterns
    assert "electra" in capsys.readouterr().out
    res = finetune(FinetuneArgs(task="stsb", model=str(out / "model"), out=str(tmp_path / "ft"),
                                data_dir=str(_stsb(tmp_path / "data")), max_steps=3, eval_steps=3, batch_size=8,
                                max_length=32, progress=False, logging_steps=1))
    assert res["model_kind"] == ("r2d" if model == "r2d" else "hf")
    assert all(np.isfinite(res["final"][k]) for k in ("eval_pearson", "eval_spearmanr", "eval_loss"))
    tuned = AutoModelForSequenceClassification.from_pretrained(tmp_path / "ft" / "model")
    start = AutoModelForSequenceClassification.from_pretrained(out / "model", num_labels=1)
    layer = (lambda m: m.r2d.roberta.encoder.layer[0]) if model == "r2d" else (lambda m: m.electra.encoder.layer[0])
    assert type(tuned) is type(start)
    assert not torch.equal(layer(tuned).output.dense.weight, layer(start).output.dense.weight)


@pytest.mark.parametrize("model", ["r2d", "roberta"])
def test_electra_resume_reproduces_the_uninterrupted_run(tmp_path, corpus, tokenizer_dir, model):
    """As test_resume_reproduces_the_uninterrupted_run for MLM: the replacements (torch's RNG, restored from the
    checkpoint) and the masks are redrawn alike; evaluation draws under a fixed seed, so eval_loss repeats."""
    tok = ["--tokenizer", str(tokenizer_dir)] if model == "r2d" else []
    common = ["--model", model, "--objective", "electra", "--corpus", str(corpus), *tok, "--max-steps", "4",
              "--eval-steps", "2", "--save-steps", "2", "--save-total-limit", "3", "--max-docs", "40"]
    full = tmp_path / "full"
    assert run(*common, "--out", str(full)) == 0
    cut = _killed_after_checkpoint_2(full, tmp_path / "cut")
    assert run(*common, "--out", str(cut), "--resume") == 0
    a, b = _losses(full), _losses(cut)
    assert [s for s, _, _ in a] == [s for s, _, _ in b]
    for (_, la, ea), (_, lb, eb) in zip(a, b):
        assert (la is None) == (lb is None) and (ea is None) == (eb is None)
        assert la is None or la == pytest.approx(lb, rel=1e-5)
        assert ea is None or ea == pytest.approx(eb, rel=1e-5)


def test_electra_evaluation_is_the_same_at_every_evaluation(tmp_path, corpus, tokenizer_dir):
    """Evaluating twice in a row (same weights) gives the same eval_loss: the replacements are drawn under a fixed
    seed at evaluation, and the training draws are not disturbed by it."""
    from r2d.cli.pretrain import build_parser
    from r2d.training import pretrain as recipe

    argv = ["--model", "r2d", "--objective", "electra", "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir),
            "--out", str(tmp_path / "o"), "--preset", "tiny", "--max-length", "32", "--batch-size", "4",
            "--max-steps", "1", "--eval-steps", "1", "--no-progress", "--max-docs", "30"]
    seen = []
    from r2d.training.trainer import R2DTrainer

    class Twice(R2DTrainer):
        def evaluate(self, *a, **k):
            first = super().evaluate(*a, **k)
            seen.append((first["eval_loss"], super().evaluate(*a, **k)["eval_loss"]))
            return first

    import r2d.training.trainer as trainer_module

    trainer_module.R2DTrainer, keep = Twice, trainer_module.R2DTrainer
    try:
        recipe.pretrain(build_parser().parse(argv))
    finally:
        trainer_module.R2DTrainer = keep
    assert seen and all(a == b for a, b in seen)


def test_flag_change_weights():
    from r2d.training.electra import flag_change_weights

    rates = {"a": 0.5, "b": 0.01}
    # 'rate': negatives / positives of the expected change rate q = mlm_probability * 2p(1 - p)
    q = [0.15 * 2 * 0.5 * 0.5, 0.15 * 2 * 0.01 * 0.99]
    expected = [(1 - x) / x for x in q]
    assert flag_change_weights("rate", rates, mlm_probability=0.15, max_weight=1e9) == pytest.approx(expected)
    assert flag_change_weights("sqrt-rate", rates, mlm_probability=0.15, max_weight=1e9) == pytest.approx(
        np.sqrt(expected).tolist())
    assert flag_change_weights("rate", rates, mlm_probability=0.15, max_weight=50) == pytest.approx([expected[0], 50])
    assert flag_change_weights("3", rates, mlm_probability=0.15, max_weight=50) == [3.0, 3.0]
    assert flag_change_weights("rate", {"a": 0.0}, mlm_probability=0.15, max_weight=50) == [50.0]


@pytest.mark.parametrize("argv,message", [
    (["--model", "bpe", "--objective", "electra"], "use --objective clm"),
    (["--objective", "electra", "--flag-change-weight", "often"], "--flag-change-weight often: "),
    (["--objective", "electra", "--flag-change-weight", "0"], "--flag-change-weight 0: "),
])
def test_electra_bad_options_exit_2(tmp_path, corpus, capsys, argv, message):
    out = tmp_path / "o"
    assert run(*argv, "--corpus", str(corpus), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()
