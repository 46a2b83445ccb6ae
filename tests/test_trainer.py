"""R2DTrainer on a device: loss parts summed where the model is and read at logging steps only; TF32 on CUDA only;
pretraining on a GPU in bf16 (CUDA tests)."""

from __future__ import annotations

import math
import random

import pytest
import torch

from host_reads import count_host_reads
from r2d.modeling.causal_data import CausalCollator, RowCodec
from test_causal import tiny_causal_lm


def _trainer(tmp_path, model, **kw):
    from transformers import TrainingArguments

    from r2d.training.trainer import R2DTrainer

    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=not torch.cuda.is_available(),
                             disable_tqdm=True, **kw)
    return R2DTrainer(model=model, args=args, loss_parts=("root_loss", "flag_loss"))


def test_loss_parts_are_summed_on_the_device_and_read_when_logged(tmp_path, tiny_tok):
    codec = RowCodec(tiny_tok)
    model = tiny_causal_lm(codec).train()
    trainer = _trainer(tmp_path, model)
    ids, flags = codec.encode(["The dogs were riding.", "I enjoyed it."])[0]
    batch = CausalCollator.for_codec(codec)([{"input_ids": ids, "flags": flags}] * 2)
    outs = []
    with count_host_reads(model) as reads:
        for _ in range(3):
            outs.append(trainer.compute_loss(model, batch, return_outputs=True)[1])
    assert reads.reads == []
    parts = [(float(o["root_loss"].detach()), float(o["flag_loss"].detach())) for o in outs]
    assert all(isinstance(v, torch.Tensor) for v in trainer._part_sums.values())
    logs = {"loss": 1.0}
    trainer.log(logs)
    assert logs["root_loss"] == pytest.approx(sum(p[0] for p in parts) / 3, rel=1e-5)
    assert logs["flag_loss"] == pytest.approx(sum(p[1] for p in parts) / 3, rel=1e-5)
    assert trainer._part_sums == {}


def test_tf32_is_left_alone_without_a_gpu(tmp_path, tiny_tok):
    before = torch.get_float32_matmul_precision()
    _trainer(tmp_path, tiny_causal_lm(RowCodec(tiny_tok)))
    assert torch.get_float32_matmul_precision() == before


@pytest.mark.cuda
def test_pretraining_runs_on_the_gpu_in_bf16_with_tf32(tmp_path, monkeypatch):
    from r2d.cli import main
    from r2d.tokenizer.hf import R2DTokenizer
    from r2d.training.trainer import R2DTrainer, read_metrics

    words = "the park parks ride riding rides enjoyed Australia's in of and a I NASA walked dogs".split()
    rng = random.Random(0)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(" ".join(rng.choice(words) for _ in range(12)) + ".\n" for _ in range(200)))
    tok = R2DTokenizer.train(word_counts={w: 10 + i for i, w in enumerate(words)}, vocab_size=300)
    tok.save_pretrained(tmp_path / "tok")
    seen = []
    real = R2DTrainer.compute_loss

    def spy(self, model, inputs, *a, **k):
        seen.append((next(model.parameters()).device.type, inputs["input_ids"].device.type,
                     torch.is_autocast_enabled("cuda")))
        return real(self, model, inputs, *a, **k)

    monkeypatch.setattr(R2DTrainer, "compute_loss", spy)
    torch.set_float32_matmul_precision("highest")
    for objective in ("clm", "mlm"):
        out = tmp_path / objective
        assert main(["pretrain", "--objective", objective, "--model", "r2d", "--preset", "tiny", "--corpus",
                     str(corpus), "--tokenizer", str(tmp_path / "tok"), "--out", str(out), "--max-steps", "4",
                     "--eval-steps", "4", "--save-steps", "4", "--logging-steps", "1", "--batch-size", "8",
                     "--max-length", "32", "--bf16", "true", "--no-progress"]) == 0
        losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
        assert len(losses) == 4 and all(math.isfinite(x) for x in losses), objective
    assert seen and all(s == ("cuda", "cuda", True) for s in seen), seen[:3]
    assert torch.get_float32_matmul_precision() == "high"


def test_evaluation_pools_every_sequence_once_however_the_batches_cut_them(tmp_path, tiny_tok):
    """The causal evaluation sums each sequence's nats and rows: the same figures with any evaluation batch (on N
    processes the last batches are padded with repeats, which per-sequence values let the Trainer drop), equal to
    the model's own loss over all the sequences at once."""
    from transformers import TrainingArguments

    from r2d.training.clm import CausalBatches, CausalEvaluation
    from r2d.training.trainer import R2DTrainer

    codec = RowCodec(tiny_tok)
    model = tiny_causal_lm(codec).eval()
    texts = ["I enjoyed riding in Australia's parks.", "Dogs", "The dogs were riding. A dog rides! NASA's parks.",
             "McDonald riding.", "It", "Hello world, hello WORLD! iPhone", "The parks enjoyed it."]
    feats = [{"input_ids": ids, "flags": flags} for ids, flags in codec.encode(texts)]
    collate, evaluation = CausalBatches(CausalCollator.for_codec(codec)), CausalEvaluation()
    with torch.no_grad():
        whole = model(**collate(feats))
    for batch_size in (1, 3, 7):
        args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, disable_tqdm=True,
                                 per_device_eval_batch_size=batch_size, remove_unused_columns=False)
        trainer = R2DTrainer(model=model, args=args, data_collator=collate, eval_dataset=feats,
                             compute_metrics=evaluation.metrics, eval_outputs=evaluation.outputs)
        metrics = trainer.evaluate()
        assert metrics["eval_loss"] == pytest.approx(float(whole.loss), rel=1e-5), batch_size
        assert metrics["eval_root_loss"] == pytest.approx(float(whole.root_loss), rel=1e-5), batch_size
        assert metrics["eval_scored_rows"] == int(collate(feats)["labels"][:, 1:].ne(-100).sum())
