"""Tests for r2d finetune: tiny R2D and RoBERTa checkpoints, pairs, regression, metrics.jsonl, CLI errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import write_stsb

WORDS = ("the dog runs in the park . a man is riding horses . she played music and sang songs . "
         "It's raining in Australia's parks . They walked home slowly .").split()


def _sentence(i: int) -> str:
    w = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(4 + i % 5)]
    return " ".join(w).capitalize() + "."


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Tiny MNLI and STS-B files in the shared/data layout."""
    d = tmp_path_factory.mktemp("data")
    labs = ("entailment", "neutral", "contradiction")
    (d / "mnli_sample").mkdir()
    for name in ("dev_matched_1000.tsv", "dev_mismatched_1000.tsv"):
        (d / "mnli_sample" / name).write_text(
            "".join(f"{labs[i % 3]}\t{_sentence(i)}\t{_sentence(i + 1)}\n" for i in range(40)), encoding="utf-8")
    return write_stsb(d, _sentence)


def _tiny(**kw) -> dict:
    return dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                max_position_embeddings=70, pad_token_id=1, bos_token_id=0, eos_token_id=2, **kw)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Tiny untrained checkpoints with their tokenizers: R2D and RoBERTa MLMs, the causal R2D model and its twin, the
    R2D ELECTRA pair and its 1D twin."""
    from transformers import RobertaConfig, RobertaForMaskedLM

    from r2d.modeling.causal import R2DCausalConfig, R2DForCausalLM
    from r2d.modeling.electra import (ElectraTwinConfig, ElectraTwinForPreTraining, R2DElectraConfig,
                                      R2DElectraForPreTraining)
    from r2d.modeling.encoder import R2DConfig, R2DForMaskedLM
    from r2d.tokenizer.baseline import roberta_tokenizer
    from r2d.tokenizer.hf import R2DTokenizer

    d = tmp_path_factory.mktemp("ckpt")
    tok = R2DTokenizer.train(texts=[_sentence(i) for i in range(50)], vocab_size=300, deconstruction_list=None)
    R2DForMaskedLM(R2DConfig(vocab_size=len(tok), flag_names=list(tok.flag_names), **_tiny())).save_pretrained(d / "r2d")
    tok.save_pretrained(d / "r2d")
    rt = roberta_tokenizer()
    RobertaForMaskedLM(RobertaConfig(vocab_size=len(rt), **_tiny())).save_pretrained(d / "roberta")
    rt.save_pretrained(d / "roberta")
    causal = dict(_tiny(), max_position_embeddings=64)
    R2DForCausalLM(R2DCausalConfig(vocab_size=len(tok), num_flags=len(tok.flag_names), flag_names=list(tok.flag_names),
                                   **causal)).save_pretrained(d / "clm-r2d")
    tok.save_pretrained(d / "clm-r2d")
    R2DForCausalLM(R2DCausalConfig(vocab_size=len(rt), num_flags=0, **causal)).save_pretrained(d / "clm-bpe")
    rt.save_pretrained(d / "clm-bpe")
    electra = R2DElectraForPreTraining(R2DElectraConfig(vocab_size=len(tok), flag_names=list(tok.flag_names),
                                                        **_tiny()))
    electra.set_vocabulary(tok)
    electra.save_pretrained(d / "electra-r2d")
    tok.save_pretrained(d / "electra-r2d")
    twin = ElectraTwinForPreTraining(ElectraTwinConfig(vocab_size=len(rt), **_tiny()))
    twin.set_vocabulary(rt)
    twin.save_pretrained(d / "electra-twin")
    rt.save_pretrained(d / "electra-twin")
    return {"r2d": d / "r2d", "roberta": d / "roberta", "clm-r2d": d / "clm-r2d", "clm-bpe": d / "clm-bpe",
            "electra-r2d": d / "electra-r2d", "electra-twin": d / "electra-twin"}


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_pair_layout_of_both_tokenizers(data_dir: Path, checkpoints):
    from r2d.training.finetune import encode_task, load_tokenizer
    from r2d.training.tasks import get_task, load_task

    task = get_task("mnli")
    dd = load_task(task, data_dir)
    for name, kind in (("r2d", "r2d"), ("roberta", "hf")):
        tok, k = load_tokenizer(str(checkpoints[name]))
        assert k == kind
        enc = encode_task(dd, task, tok, max_length=24)
        ids = enc["train"][0]["input_ids"]
        assert ids[0] == 0 and ids[-1] == 2 and len(ids) <= 24
        j = ids.index(2)
        assert ids[j + 1] == 2  # <s> A </s></s> B </s>
        assert set(enc["train"].column_names) >= {"input_ids", "attention_mask", "labels"}
        if kind == "r2d":
            flags = enc["train"][0]["flags"]
            assert len(flags) == len(ids) and len(flags[0]) == 7
            assert flags[0] == [0] * 7 and flags[j] == [0] * 7  # special rows carry no flags


def test_r2d_mnli_two_eval_splits_cli(tmp_path: Path, data_dir: Path, checkpoints):
    from r2d.cli import main

    out = tmp_path / "r2d-mnli"
    rc = main(["finetune", "--task", "mnli", "--model", str(checkpoints["r2d"]), "--out", str(out),
               "--data-dir", str(data_dir), "--max-steps", "4", "--eval-steps", "3", "--batch-size", "8",
               "--max-length", "32", "--seed", "1", "--no-progress"])
    assert rc == 0
    rows = _rows(out / "metrics.jsonl")
    for split in ("validation_matched", "validation_mismatched"):
        steps = [r["step"] for r in rows if f"eval_{split}_accuracy" in r]
        assert steps == [0, 3, 4]  # start, every 3 steps, and the end
    res = json.loads((out / "results.json").read_text())
    assert res["model_kind"] == "r2d" and res["steps"] == 4 and res["seed"] == 1 and res["train_examples"] == 31  # 40 matched pairs minus the carved 20% (3 per label)
    assert set(res["final"]) >= {"eval_validation_matched_accuracy", "eval_validation_mismatched_accuracy"}
    from transformers import AutoModelForSequenceClassification

    from r2d.tokenizer.hf import R2DTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(out / "model").eval()
    assert type(model).__name__ == "R2DForSequenceClassification" and model.config.num_labels == 3
    tok = R2DTokenizer.from_pretrained(out / "model")
    assert len(tok) == 300
    # the reported final accuracy is the saved model's accuracy on the matched split, recomputed here
    import torch

    from r2d.training.finetune import encode_task
    from r2d.training.tasks import get_task, load_task

    task = get_task("mnli")
    split = encode_task(load_task(task, data_dir), task, tok, max_length=32)["validation_matched"]
    batch = tok.pad([{k: ex[k] for k in ("input_ids", "attention_mask", "flags")} for ex in split],
                    padding=True, return_tensors="pt")
    with torch.no_grad():
        pred = model(**dict(batch)).logits.argmax(-1)
    accuracy = (pred == torch.tensor(split["labels"])).float().mean().item()
    assert res["final"]["eval_validation_matched_accuracy"] == pytest.approx(accuracy)


def test_roberta_stsb_regression(tmp_path: Path, data_dir: Path, checkpoints):
    from r2d.training.finetune import FinetuneArgs, finetune

    res = finetune(FinetuneArgs(task="stsb", model=str(checkpoints["roberta"]), out=str(tmp_path / "rob"),
                                data_dir=str(data_dir), max_steps=3, eval_steps=3, batch_size=8, max_length=32,
                                progress=False, save=False, logging_steps=1))
    assert res["model_kind"] == "hf"
    assert set(res["final"]) >= {"eval_pearson", "eval_spearmanr", "eval_loss"}
    rows = _rows(tmp_path / "rob" / "metrics.jsonl")
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3]  # training loss logged every step
    assert not (tmp_path / "rob" / "model").exists()


@pytest.mark.parametrize("kind", ["clm-r2d", "clm-bpe"])
def test_causal_checkpoints_fine_tune_through_the_same_recipe(tmp_path: Path, data_dir: Path, checkpoints, kind):
    import torch
    from transformers import AutoModelForSequenceClassification

    from r2d.modeling.causal import R2DCausalForSequenceClassification
    from r2d.training.finetune import FinetuneArgs, finetune

    res = finetune(FinetuneArgs(task="stsb", model=str(checkpoints[kind]), out=str(tmp_path / kind),
                                data_dir=str(data_dir), max_steps=4, eval_steps=2, batch_size=8, max_length=32,
                                lr=1e-2, progress=False, logging_steps=1))
    assert res["model_kind"] == ("r2d" if kind == "clm-r2d" else "hf")
    assert set(res["final"]) >= {"eval_pearson", "eval_spearmanr"}
    losses = [r["loss"] for r in _rows(tmp_path / kind / "metrics.jsonl") if "loss" in r]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
    tuned = AutoModelForSequenceClassification.from_pretrained(tmp_path / kind / "model")
    assert type(tuned) is R2DCausalForSequenceClassification and tuned.config.problem_type == "regression"
    start = AutoModelForSequenceClassification.from_pretrained(checkpoints[kind], num_labels=1)
    assert not torch.equal(tuned.model.layers[0].mlp.up_proj.weight, start.model.layers[0].mlp.up_proj.weight)


@pytest.mark.parametrize("argv,msg", [
    (["--task", "glue"], "--task 'glue': is unknown"),
    (["--task", "rte", "--data-dir", "/nonexistent/x"], "--data-dir /nonexistent/x: not a folder"),
    (["--task", "rte", "--max-length", "0"], "--max-length 0: must be >= 1"),
    (["--task", "rte", "--patience", "2"], "--patience 2: must be >= 1 and needs --dev-size N"),
    (["--task", "rte", "--lora-r", "-1"], "--lora-r -1: must be >= 0"),
    (["--task", "rte", "--max-train-samples", "0"], "--max-train-samples 0: must be >= 1"),
    (["--task", "rte", "--max-train-samples", "-3"], "--max-train-samples -3: must be >= 1"),
    (["--task", "rte", "--max-eval-samples", "0"], "--max-eval-samples 0: must be >= 1"),
    (["--task", "rte", "--seed", "-1"], "--seed -1: must be >= 0"),
    (["--task", "rte", "--lr", "0"], "--lr 0.0: must be > 0"),
    (["--task", "rte", "--max-steps", "-1", "--epochs", "0"], "--epochs 0.0: must be > 0"),
    (["--task", "rte", "--weight-decay", "-1"], "--weight-decay -1.0: must be >= 0"),
    (["--task", "rte", "--warmup-ratio", "1.5"], "--warmup-ratio 1.5: must be <= 1"),
])
def test_cli_bad_input_exit_2(tmp_path: Path, capsys, argv, msg):
    from r2d.cli import main

    rc = main(["finetune", "--model", str(tmp_path), "--out", str(tmp_path / "o"), *argv])
    assert rc == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def long_data_dir(tmp_path_factory) -> Path:
    """STS-B pairs longer than the tiny checkpoints can read (about 150 rows)."""
    d = tmp_path_factory.mktemp("long")
    (d / "glue/STS-B").mkdir(parents=True)
    head = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    for name, n in (("train.tsv", 16), ("dev.tsv", 8)):
        long = lambda i: " ".join(_sentence(i + k) for k in range(10))
        (d / "glue/STS-B" / name).write_text(head + "".join(
            f"{i}\tg\tf\ty\t{i}\tn\tn\t{long(i)}\t{long(i + 1)}\t{i % 5}.0\n" for i in range(n)), encoding="utf-8")
    return d


@pytest.mark.parametrize("kind,limit", [("r2d", 68), ("roberta", 68), ("clm-r2d", 64), ("electra-r2d", 68),
                                        ("electra-twin", 70)])
def test_default_max_length_is_at_most_what_the_model_reads(tmp_path: Path, long_data_dir: Path, checkpoints, caplog,
                                                            kind, limit):
    """The encoders read max_position_embeddings (70) minus RoBERTa's padding offset (2) rows (R2D's ELECTRA
    discriminator too), the causal model 64, the 1D ELECTRA twin all 70 (ELECTRA's positions start at 0)."""
    import logging

    from r2d.training.finetune import FinetuneArgs, finetune

    with caplog.at_level(logging.INFO, logger="r2d.training.finetune"):
        res = finetune(FinetuneArgs(task="stsb", model=str(checkpoints[kind]), out=str(tmp_path / kind),
                                    data_dir=str(long_data_dir), max_steps=1, eval_steps=1, batch_size=4,
                                    progress=False, save=False))
    assert res["args"]["max_length"] == limit
    assert f"--max-length {limit}" in caplog.text
    args = json.loads((tmp_path / kind / "args.json").read_text())["args"]
    assert args["max_length"] == limit


@pytest.mark.parametrize("kind,limit", [("r2d", 68), ("clm-r2d", 64)])
def test_a_max_length_longer_than_the_model_reads_exits_2_naming_both(tmp_path: Path, long_data_dir: Path,
                                                                      checkpoints, capsys, kind, limit):
    from r2d.cli import main

    out = tmp_path / "o"
    rc = main(["finetune", "--task", "stsb", "--model", str(checkpoints[kind]), "--out", str(out),
               "--data-dir", str(long_data_dir), "--max-steps", "1", "--max-length", "128"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert err.startswith("r2d finetune: error: --max-length 128: ") and f" {limit} " in err, err
    assert not out.exists()


def test_a_finished_run_is_not_overwritten(tmp_path: Path, data_dir: Path, checkpoints, capsys):
    from r2d.cli import main

    out = tmp_path / "done"
    argv = ["finetune", "--task", "stsb", "--model", str(checkpoints["roberta"]), "--out", str(out),
            "--data-dir", str(data_dir), "--max-steps", "1", "--max-length", "32", "--no-progress", "--no-save"]
    assert main(argv) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main([*argv, "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {out}: already holds a finished run (results.json)" in err, err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_cli_model_folder_without_config(tmp_path: Path, capsys):
    from r2d.cli import main

    assert main(["finetune", "--task", "rte", "--model", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_cli_model_folder_that_does_not_exist(tmp_path: Path, monkeypatch, capsys):
    """One line naming --model and exit 2, not the Hub's connection error; nothing written."""
    from r2d.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    for model in ("runs/r2d-smal", str(tmp_path / "runs" / "r2d-small" / "model")):
        assert main(["finetune", "--task", "rte", "--model", model, "--out", "o", "--data-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.strip() == f"r2d finetune: error: --model {model}: no such folder"
    assert not (tmp_path / "o").exists()


def test_help_is_generated_from_the_dataclass(capsys):
    import dataclasses

    from r2d.cli import main
    from r2d.training.finetune import FinetuneArgs

    with pytest.raises(SystemExit) as exc:
        main(["finetune", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for f in dataclasses.fields(FinetuneArgs):
        if f.name != "extra":
            assert f"--{f.name.replace('_', '-')}" in text and f.metadata["help"] in text, f.name
    assert "example: r2d finetune --task rte" in text and "--extra" not in text


def test_best_dev_callback_keeps_the_best_weights_and_stops_after_patience():
    import torch
    from transformers import TrainerControl, TrainerState

    from r2d.training.finetune import best_dev_callback

    cb = best_dev_callback("eval_pearson", patience=2)
    model, state, control = torch.nn.Linear(1, 1), TrainerState(), TrainerControl()
    for step, value in enumerate([0.1, 0.3, 0.2, float("nan"), 0.9], start=1):
        state.global_step = step
        with torch.no_grad():
            model.weight.fill_(step)
        cb.on_evaluate(None, state, control, metrics={"eval_pearson": value}, model=model)
        if control.should_training_stop:
            break
    assert step == 4 and control.should_training_stop  # 0.2 and NaN: two evaluations without a better score
    assert (cb.best, cb.best_step) == (0.3, 2) and cb.state["weight"].item() == 2.0


def test_dev_selection_scores_the_test_split_once_with_the_best_weights(tmp_path: Path, data_dir: Path, checkpoints):
    """--dev-size: evaluations during training are on dev; the final numbers are the test split's predictions."""
    import numpy as np

    from r2d.training.finetune import FinetuneArgs, finetune
    from r2d.training.metrics import compute_task_metrics
    from r2d.training.tasks import TASKS

    res = finetune(FinetuneArgs(task="stsb", model=str(checkpoints["r2d"]), out=str(tmp_path / "r2d"),
                                data_dir=str(data_dir), max_steps=6, eval_steps=2, batch_size=8, max_length=32,
                                dev_size=8, patience=5, lr=1e-3, progress=False, save=False, logging_steps=1))
    assert res["dev_examples"] == 8 and res["train_examples"] == 32 - 8
    assert res["best_step"] in (0, 2, 4, 6) and res["stopped_at"] == 6
    pred = json.loads((tmp_path / "r2d" / "predictions.json").read_text())["validation"]
    assert len(pred["labels"]) == 12  # the whole validation split, scored once
    expected = compute_task_metrics(TASKS["stsb"], np.array(pred["predictions"]), np.array(pred["labels"]))
    assert res["final"]["eval_pearson"] == pytest.approx(expected["pearson"])
    dev_rows = [r for r in _rows(tmp_path / "r2d" / "metrics.jsonl") if "eval_pearson" in r]
    assert max(r["eval_pearson"] for r in dev_rows) == pytest.approx(res["best_dev"])


@pytest.mark.parametrize("kind", ["r2d", "roberta", "clm-r2d"])
def test_lora_trains_adapters_and_the_head_only(tmp_path: Path, data_dir: Path, checkpoints, kind):
    from safetensors.torch import load_file

    from r2d.training.finetune import FinetuneArgs, finetune

    res = finetune(FinetuneArgs(task="stsb", model=str(checkpoints[kind]), out=str(tmp_path / kind),
                                data_dir=str(data_dir), max_steps=2, eval_steps=2, batch_size=8, max_length=32,
                                lora_r=2, lr=1e-2, progress=False, save=True, logging_steps=1))
    assert 0 < res["trainable_parameters"] < 0.2 * res["num_parameters"]
    saved = load_file(str(tmp_path / kind / "model" / "adapter_model.safetensors"))
    head = "score" if kind.startswith("clm") else "classifier"
    assert any("lora_A" in k for k in saved) and any(head in k for k in saved)
    assert not any("word_embeddings" in k or "embed_tokens" in k for k in saved)  # the base weights stay as they were


def test_precision_and_compile_reach_the_trainer(tmp_path: Path, data_dir: Path, checkpoints, monkeypatch):
    """--bf16 defaults to the GPU's native bf16 (off on a CPU), --compile to off; --extra wins over both."""
    from r2d.device import bf16_native
    from r2d.training.finetune import FinetuneArgs, finetune
    from r2d.training.trainer import R2DTrainer

    class Captured(Exception):
        pass

    seen = []

    def capture(self, *args, **kwargs):
        seen.append(self.args)
        raise Captured  # the arguments are all this test needs

    monkeypatch.setattr(R2DTrainer, "train", capture)
    common = dict(task="stsb", model=str(checkpoints["clm-r2d"]), data_dir=str(data_dir), max_steps=1, eval_steps=1,
                  batch_size=8, max_length=32, progress=False, save=False, eval_on_start=False)
    import torch

    for i, kw in enumerate([{}, {"bf16": False}, {"extra": {"bf16": False}}]):
        with pytest.raises(Captured):
            finetune(FinetuneArgs(out=str(tmp_path / str(i)), **common, **kw))
    assert [a.bf16 for a in seen] == [bf16_native(torch.device("cuda")), False, False]
    assert [a.torch_compile for a in seen] == [False] * 3


@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["clm-r2d", "r2d"])
def test_fine_tuning_runs_on_the_gpu_in_bf16(tmp_path: Path, data_dir: Path, checkpoints, kind, monkeypatch):
    import torch

    from r2d.training.finetune import FinetuneArgs, finetune
    from r2d.training.trainer import R2DTrainer

    seen = []
    real = R2DTrainer.compute_loss

    def spy(self, model, inputs, *a, **k):
        seen.append((next(model.parameters()).device.type, torch.is_autocast_enabled("cuda")))
        return real(self, model, inputs, *a, **k)

    monkeypatch.setattr(R2DTrainer, "compute_loss", spy)
    res = finetune(FinetuneArgs(task="stsb", model=str(checkpoints[kind]), out=str(tmp_path / kind),
                                data_dir=str(data_dir), max_steps=4, eval_steps=2, batch_size=8, max_length=32,
                                lr=1e-2, progress=False, logging_steps=1))
    assert set(res["final"]) >= {"eval_pearson", "eval_spearmanr"}
    losses = [r["loss"] for r in _rows(tmp_path / kind / "metrics.jsonl") if "loss" in r]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
    assert seen and all(s == ("cuda", torch.cuda.is_bf16_supported()) for s in seen), seen[:3]


@pytest.mark.parametrize("kind", ["electra-r2d", "electra-twin"])
def test_electra_discriminators_fine_tune_like_the_mlm_models(tmp_path: Path, data_dir: Path, checkpoints, kind):
    """An ELECTRA checkpoint (the pair) fine-tunes its discriminator: R2D's reads rows and flags from its own
    tokenizer, the twin's ids from the byte-level BPE; the generator is left behind."""
    from transformers import AutoModelForSequenceClassification

    from r2d.training.finetune import FinetuneArgs, finetune, is_r2d_checkpoint

    assert is_r2d_checkpoint(str(checkpoints[kind])) == (kind == "electra-r2d")
    res = finetune(FinetuneArgs(task="mnli", model=str(checkpoints[kind]), out=str(tmp_path / kind),
                                data_dir=str(data_dir), max_steps=3, eval_steps=3, batch_size=8, max_length=32,
                                progress=False, logging_steps=1))
    assert res["model_kind"] == ("r2d" if kind == "electra-r2d" else "hf")
    assert all(math.isfinite(v) for k, v in res["final"].items() if k.endswith("accuracy"))
    tuned = AutoModelForSequenceClassification.from_pretrained(tmp_path / kind / "model")
    assert type(tuned).__name__ == ("R2DElectraForSequenceClassification" if kind == "electra-r2d"
                                    else "ElectraTwinForSequenceClassification")
    assert not any(name.startswith("generator") for name, _ in tuned.named_parameters())
