"""The causal objective of the pretraining recipe: blocks, the CLI end to end for R2D and its twin, resume."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from r2d.cli import main
from r2d.modeling.causal_data import CausalCollator, RowCodec, load_causal_lm
from r2d.training.clm import causal_blocks
from r2d.training.trainer import read_metrics
from test_causal import tiny_bpe_twin
from test_pretrain import sentence

DOCS = ["I enjoyed riding in Australia's parks.", "Zorping dogs", "The dogs were riding. A dog rides!",
        "McDonald riding in NASA's parks."]


@pytest.fixture(scope="module", params=["r2d", "twin"])
def codec(request, tiny_tok):
    return RowCodec(tiny_tok if request.param == "r2d" else tiny_bpe_twin())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(1)
    path = tmp_path_factory.mktemp("corpus") / "lines.txt"
    path.write_text("".join(sentence(rng) + "\n" for _ in range(120)), encoding="utf-8")
    return path


def test_packed_blocks_are_the_document_stream_cut_into_full_blocks(codec):
    f = codec.num_flags
    data = causal_blocks(DOCS, codec.tokenizer, max_length=8, pack=True, with_flags=bool(f), num_flags=f)
    stream = [(i, fl) for ids, flags in codec.encode(DOCS) for i, fl in zip(ids, flags.tolist())]
    lengths = np.diff(data.offsets)
    assert (lengths[:-1] == 8).all() and 2 <= lengths[-1] <= 8
    assert data.ids.tolist() == [i for i, _ in stream]  # nothing added, nothing lost: no artificial </s>
    if f:
        assert data.flags.tolist() == [fl for _, fl in stream]
    assert data.ids.tolist().count(codec.eos_token_id) == len(DOCS)


def test_unpacked_documents_are_cut_without_an_artificial_end(codec):
    f = codec.num_flags
    data = causal_blocks(DOCS, codec.tokenizer, max_length=6, pack=False, with_flags=bool(f), num_flags=f)
    for k, (ids, _) in enumerate(codec.encode(DOCS)):
        rows, _ = data.rows(k)
        assert rows.tolist() == ids[:6]


def test_every_row_but_the_first_and_bos_is_a_target(codec):
    f = codec.num_flags
    data = causal_blocks(DOCS, codec.tokenizer, max_length=8, pack=True, with_flags=bool(f), num_flags=f)
    feats = [{"input_ids": data.rows(i)[0].tolist(), "flags": data.rows(i)[1]} for i in range(len(data))]
    batch = CausalCollator.for_codec(codec)(feats)
    ids, labels = batch["input_ids"], batch["labels"]
    real = batch["attention_mask"].bool()
    assert ((labels[:, 1:] != -100) == (real[:, 1:] & (ids[:, 1:] != codec.bos_token_id))).all()


def run(*args: str) -> int:
    return main(["pretrain", "--objective", "clm", "--preset", "tiny", "--no-progress", "--max-length", "32",
                 "--batch-size", "4", "--seed", "0", "--pack", *args])


def test_cli_r2d_and_its_twin_train_generate_and_score(tmp_path, corpus, capsys):
    outs = {}
    for kind in ("r2d", "bpe"):
        outs[kind] = tmp_path / kind
        assert run("--model", kind, "--corpus", str(corpus), "--out", str(outs[kind]), "--max-steps", "3",
                   "--eval-steps", "3", "--train-tokenizer", "320") == 0
        assert "eval_bits_per_row=" in capsys.readouterr().out
        model, codec = load_causal_lm(outs[kind] / "model")
        assert codec.vocab_size == model.config.vocab_size <= 320 and (outs[kind] / "tokenizer").is_dir()
        assert (model.config.num_flags > 0) == (kind == "r2d")
        rows = read_metrics(outs[kind] / "metrics.jsonl")
        assert any("root_loss" in r for r in rows) and any("eval_bits_per_row" in r for r in rows)
        assert main(["generate", "--model", str(outs[kind] / "model"), "--prompt", "The park", "--max-new-tokens",
                     "5", "--seed", "0"]) == 0
        assert capsys.readouterr().out.startswith("The park")
        assert main(["eval", "bpb", "--model", str(outs[kind] / "model"), "--text", str(corpus), "--json",
                     "--max-docs", "10"]) == 0
        assert json.loads(capsys.readouterr().out)["bits_per_byte"] > 0
    # both tokenizers were trained on the same text with the same budget of ids
    assert json.loads((outs["r2d"] / "data" / "meta.json").read_text())["train_documents"] == \
        json.loads((outs["bpe"] / "data" / "meta.json").read_text())["train_documents"]


def test_bad_combinations_exit_2(tmp_path, corpus, capsys):
    out = tmp_path / "o"
    for args, message in [(["--model", "roberta"], "use --objective mlm"),
                          (["--model", "r2d", "--train-tokenizer", "10"], "--train-tokenizer 10: must be >= 300")]:
        assert run(*args, "--corpus", str(corpus), "--out", str(out)) == 2
        assert message in capsys.readouterr().err and not out.exists()
    assert main(["pretrain", "--model", "bpe", "--corpus", str(corpus), "--out", str(out)]) == 2
    assert "use --objective clm" in capsys.readouterr().err


def test_resume_after_kill_9(tmp_path, corpus, tiny_tok):
    """Killed with SIGKILL after its first checkpoint, the causal run resumes to exactly the uninterrupted run."""
    tok = tmp_path / "tok"
    tiny_tok.save_pretrained(tok)
    common = ["pretrain", "--objective", "clm", "--model", "r2d", "--preset", "tiny", "--corpus", str(corpus),
              "--tokenizer", str(tok), "--max-steps", "8", "--eval-steps", "4", "--save-steps", "2",
              "--max-length", "32", "--batch-size", "4", "--no-progress", "--pack"]
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert main([*common, "--out", str(full)]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "r2d.cli", *common, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / "checkpoint-2" / "trainer_state.json").exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "model").exists()
    assert main([*common, "--out", str(killed), "--resume"]) == 0
    key = lambda rows: [(r["step"], r.get("loss"), r.get("eval_loss")) for r in rows if "train_runtime" not in r]
    a, b = key(read_metrics(full / "metrics.jsonl")), key(read_metrics(killed / "metrics.jsonl"))
    assert [s for s, _, _ in a] == [s for s, _, _ in b] and a == b


@pytest.mark.parametrize("model", ["r2d", "bpe"])
def test_a_run_tokenizer_trains_on_no_evaluation_text(tmp_path, monkeypatch, tiny_tok, model):
    """--train-tokenizer and the evaluation set split the corpus by one rule: the documents the tokenizer trains on
    and those the run evaluates on are disjoint, and together the whole corpus."""
    from types import SimpleNamespace

    import r2d.training.clm as clm
    from r2d.training.data import build_datasets

    docs = [f"Document {k} walks {'dogs ' * (k % 3)}in park number {k}." for k in range(23)]
    corpus = tmp_path / "docs.txt"
    corpus.write_text("".join(d + "\n" for d in docs), encoding="utf-8")
    trained_on: list[str] = []
    tokenizer = tiny_tok if model == "r2d" else tiny_bpe_twin()

    def train(texts, *args, **kwargs):
        trained_on.extend(texts)
        return tokenizer

    if model == "r2d":
        monkeypatch.setattr(clm, "R2DTokenizer", SimpleNamespace(train=lambda texts, **kw: train(texts)))
    else:
        monkeypatch.setattr(clm, "train_byte_level_bpe", train)
    args = SimpleNamespace(model=model, corpus=[str(corpus)], max_docs=None, eval_fraction=0.2, train_tokenizer=300,
                           max_length=512)
    tok = clm.train_run_tokenizer(args, tmp_path / "run")
    _, evals = build_datasets(args.corpus, tok, cache_dir=tmp_path / "run" / "data", tokenizer_id="trained",
                              with_flags=model == "r2d", max_length=512, pack=False, max_docs=None,
                              eval_fraction=args.eval_fraction, eval_size=100, objective="clm")
    codec = RowCodec(tok)
    evaluated = [codec.decode(*evals.rows(i)) for i in range(len(evals))]
    assert evaluated and trained_on and not set(evaluated) & set(trained_on)
    assert trained_on + evaluated == docs
