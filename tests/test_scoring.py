"""Sentence scorers for BLiMP: known answers of models that output zeros, the word-hiding rule, the CLI."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from r2d.cli import main
from r2d.evaluation.scoring import causal_scorer, load_scorer, masked_copies, r2d_pseudo_scorer, roberta_pseudo_scorer
from r2d.modeling.causal_data import RowCodec
from r2d.modeling.collator import R2DDataCollatorForMLM
from host_reads import count_host_reads
from test_bpb import zero_heads
from test_causal import tiny_bpe_twin, tiny_causal_lm

SENTENCES = ["Dogs were riding.", "The dog rides.", "Zorping McDonald's parks!"]


@pytest.mark.parametrize("kind", ["r2d", "twin"])
def test_causal_known_answer_of_a_model_whose_heads_output_zeros(tiny_tok, kind):
    codec = RowCodec(tiny_tok if kind == "r2d" else tiny_bpe_twin())
    model = zero_heads(tiny_causal_lm(codec))
    scores = causal_scorer(model, codec, batch_size=2)(SENTENCES)
    for sentence, score, (ids, _) in zip(SENTENCES, scores, codec.encode(SENTENCES)):
        predicted = len(ids) - 1  # every row but <s>
        free = int(codec.word_start[ids].sum())
        expected = -(predicted * math.log(codec.vocab_size) + free * codec.num_flags * math.log(2))
        assert score == pytest.approx(expected, rel=1e-6), sentence


def test_causal_scores_do_not_depend_on_batching(tiny_tok):
    codec = RowCodec(tiny_tok)
    model = tiny_causal_lm(codec, seed=3)
    one = causal_scorer(model, codec, batch_size=1)(SENTENCES)
    many = causal_scorer(model, codec, batch_size=3)(SENTENCES)
    assert many == pytest.approx(one, abs=1e-4)
    assert len(set(round(s, 3) for s in one)) == 3


def test_masked_copies_hide_the_whole_word_and_score_flags_at_its_first_row():
    word_start = np.zeros(20, dtype=bool)
    word_start[[5, 7, 9]] = True
    tok = SimpleNamespace(mask_token_id=3, pad_token_id=1, num_flags=2, all_special_ids=[0, 1, 2, 3],
                          word_start=word_start)
    collator = R2DDataCollatorForMLM(_Sized(tok, 20))
    ids = torch.tensor([0, 5, 6, 6, 7, 9, 8, 2])  # <s> [5 6 6] [7] [9 8] </s>
    positions, hidden, first = masked_copies(collator, ids)
    got = [(int(p), torch.nonzero(h).flatten().tolist(), bool(f)) for p, h, f in zip(positions, hidden, first)]
    assert got == [(1, [1, 2, 3], True), (2, [1, 2, 3], False), (3, [1, 2, 3], False), (4, [4], True),
                   (5, [5, 6], True), (6, [5, 6], False)]


class _Sized:
    """A stand-in tokenizer with a length (the collator asks ``len(tokenizer)``)."""

    def __init__(self, tok, n: int):
        self.__dict__.update(vars(tok))
        self._n = n

    def __len__(self) -> int:
        return self._n


class _Uniform(torch.nn.Module):
    """An MLM whose root logits are all 0 and whose calibrated flag probabilities are all 0.5."""

    def __init__(self, vocab: int, num_flags: int):
        super().__init__()
        self.vocab, self.num_flags, self.calls = vocab, num_flags, []

    def forward(self, input_ids, attention_mask, flags, hidden_flags):
        self.calls.append((input_ids.clone(), flags.clone(), hidden_flags.clone()))
        b, t = input_ids.shape
        return SimpleNamespace(logits=torch.zeros(b, t, self.vocab), flag_probs=torch.full((b, t, self.num_flags), 0.5))


def test_r2d_pseudo_log_likelihood_known_answer_and_hidden_flags(tiny_tok):
    model = _Uniform(len(tiny_tok), tiny_tok.num_flags)
    scores = r2d_pseudo_scorer(model, tiny_tok, batch_size=4)(SENTENCES)
    enc = tiny_tok(SENTENCES)
    specials = set(tiny_tok.all_special_ids)
    for score, ids in zip(scores, enc["input_ids"]):
        rows = [i for i in ids if i not in specials]
        words = int(np.asarray(tiny_tok.word_start)[rows].sum())
        expected = -(len(rows) * math.log(len(tiny_tok)) + words * tiny_tok.num_flags * math.log(2))
        assert score == pytest.approx(expected, rel=1e-6)
    for ids, flags, hidden in model.calls:  # every masked row's word: flags 0 and marked hidden on all its rows
        masked = ids.eq(tiny_tok.mask_token_id)
        assert masked.sum(-1).eq(1).all()
        assert hidden[masked].eq(1).all()
        assert flags[hidden.bool()].eq(0).all()


def test_cli_blimp_json_with_a_causal_model(tmp_path, tiny_tok):
    codec = RowCodec(tiny_tok)
    model = tiny_causal_lm(codec)
    model.save_pretrained(tmp_path / "model")
    tiny_tok.save_pretrained(tmp_path / "model")
    data = tmp_path / "blimp"
    data.mkdir()
    rows = [{"sentence_good": "The dog rides.", "sentence_bad": "The dog ride.", "field": "morphology", "UID": "agr"},
            {"sentence_good": "Dogs were riding.", "sentence_bad": "Dogs was riding.", "field": "syntax", "UID": "be"}]
    (data / "x.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    scores = causal_scorer(model, codec)([r[k] for k in ("sentence_good", "sentence_bad") for r in rows])
    expected = [scores[0] > scores[2], scores[1] > scores[3]]
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["eval", "blimp", "--model", str(tmp_path / "model"), "--data-dir", str(data), "--json"]) == 0
    out = json.loads(buf.getvalue())
    assert out["rule"] == "causal" and out["pairs"] == 2
    assert out["overall"] == sum(expected) / 2
    assert out["morphology"] == float(expected[0]) and out["paradigms"]["be"] == float(expected[1])


def test_cli_blimp_bad_input_is_one_line(tmp_path, capsys):
    assert main(["eval", "blimp", "--model", str(tmp_path / "nope"), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no *.jsonl" in err
    (tmp_path / "x.jsonl").write_text('{"sentence_good": "a", "sentence_bad": "b", "field": "f", "UID": "u"}\n')
    assert main(["eval", "blimp", "--model", str(tmp_path / "nope"), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no model here" in err


# ------------------------------------------------------------------------------------------------ devices


class _UniformRoberta(torch.nn.Module):
    """A RoBERTa MLM stand-in whose logits are all 0."""

    def __init__(self, vocab: int):
        super().__init__()
        self.vocab = vocab

    def forward(self, input_ids, attention_mask):
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab))


def test_roberta_pseudo_log_likelihood_known_answer():
    from r2d.tokenizer.baseline import roberta_tokenizer

    rt = roberta_tokenizer()
    scores = roberta_pseudo_scorer(_UniformRoberta(len(rt)), rt, batch_size=5)(SENTENCES)
    for score, ids in zip(scores, rt(SENTENCES)["input_ids"]):
        rows = [i for i in ids if i not in set(rt.all_special_ids)]
        assert score == pytest.approx(-len(rows) * math.log(len(rt)), rel=1e-6)


def _tiny_mlms(tiny_tok):
    from transformers import RobertaConfig, RobertaForMaskedLM

    from r2d.modeling.encoder import R2DConfig, R2DForMaskedLM
    from r2d.tokenizer.baseline import roberta_tokenizer

    torch.manual_seed(0)
    size = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                max_position_embeddings=70, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    rt = roberta_tokenizer()
    r2d = R2DForMaskedLM(R2DConfig(vocab_size=len(tiny_tok), flag_names=list(tiny_tok.flag_names), **size)).eval()
    roberta = RobertaForMaskedLM(RobertaConfig(vocab_size=len(rt), **size)).eval()
    return {"r2d": (r2d, tiny_tok, r2d_pseudo_scorer), "roberta": (roberta, rt, roberta_pseudo_scorer)}


def test_every_scorer_reads_the_device_once_per_call(tiny_tok):
    codec = RowCodec(tiny_tok)
    cases = {"causal": (tiny_causal_lm(codec), codec, causal_scorer), **_tiny_mlms(tiny_tok)}
    for name, (model, tok, make) in cases.items():
        for batch_size in (1, 64):
            scorer = make(model, tok, batch_size=batch_size)
            with count_host_reads(model) as reads:
                scores = scorer(SENTENCES)
            assert len(reads.reads) == 1, (name, batch_size, reads.reads)
            assert len(scores) == len(SENTENCES) and all(math.isfinite(x) for x in scores)
        one, many = make(model, tok, batch_size=1)(SENTENCES), make(model, tok, batch_size=64)(SENTENCES)
        assert many == pytest.approx(one, abs=1e-3), name  # padding changes nothing


def test_load_scorer_places_the_model_and_refuses_a_missing_device(tmp_path, tiny_tok):
    codec = RowCodec(tiny_tok)
    tiny_causal_lm(codec).save_pretrained(tmp_path / "m")
    tiny_tok.save_pretrained(tmp_path / "m")
    scorer, rule = load_scorer(tmp_path / "m", device="cpu", precision="fp32")
    assert rule == "causal" and len(scorer(SENTENCES)) == 3
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            load_scorer(tmp_path / "m", device="cuda")


@pytest.mark.cuda
def test_scorers_on_cuda_match_the_cpu(tiny_tok):
    codec = RowCodec(tiny_tok)
    cases = {"causal": (tiny_causal_lm(codec), codec, causal_scorer), **_tiny_mlms(tiny_tok)}
    for name, (model, tok, make) in cases.items():
        ref = make(model, tok, batch_size=4)(SENTENCES)
        gpu = model.cuda()
        assert make(gpu, tok, batch_size=4, precision="fp32")(SENTENCES) == pytest.approx(ref, rel=2e-3), name
        assert make(gpu, tok, batch_size=4)(SENTENCES) == pytest.approx(ref, rel=5e-2), name  # bf16 autocast
        model.cpu()
