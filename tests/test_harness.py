"""lm-evaluation-harness: the ``r2d`` model class against r2d's own scoring, the offline tasks, ``r2d eval lm-eval``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch

lm_eval = pytest.importorskip("lm_eval")  # the 'eval' extra

from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.tasks.wikitext.preprocess_wikitext import wikitext_detokenizer  # noqa: E402

from r2d.cli import main  # noqa: E402
from r2d.evaluation.bpb import bits_per_byte  # noqa: E402
from r2d.evaluation.harness import R2DLM, task_manager, wikitext_pages  # noqa: E402
from r2d.evaluation.scoring import causal_scorer  # noqa: E402
from r2d.io import read_text  # noqa: E402
from r2d.modeling.causal_data import RowCodec  # noqa: E402
from test_bpb import DOCS  # noqa: E402
from test_causal import saved_tiny_causal_lm, tiny_bpe_twin, tiny_causal_lm  # noqa: E402

LN2 = math.log(2)
WIKI = (" = Alpha = \r\n The dogs were riding in 1 @,@ 000 parks . \r\n = = History = = \r\n"
        " Australia 's parks , \" the news \" , were enjoyed . \r\n = Beta = \r\n A dog rides @-@ in . \r\n")


@pytest.fixture(scope="module", params=["r2d", "twin"])
def codec(request, tiny_tok):
    return RowCodec(tiny_tok if request.param == "r2d" else tiny_bpe_twin())


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, codec):
    return saved_tiny_causal_lm(tmp_path_factory.mktemp("model"), codec)


@pytest.fixture(scope="module")
def lm(model_dir):
    return R2DLM(str(model_dir), device="cpu", batch_size=3)


def requests(*args) -> list[Instance]:
    return [Instance(request_type="loglikelihood", doc={}, arguments=a, idx=0) for a in args]


def rigged(codec: RowCodec, token_id: int) -> R2DLM:
    """A model that always puts ``token_id`` first and every flag off (greedy), over ``codec``."""
    model = tiny_causal_lm(codec)
    with torch.no_grad():
        head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
        head.weight.zero_()
        head.bias.zero_()
        head.bias[token_id] = 10.0
        model.lm_head = head
        if model.flag_head is not None:
            model.flag_head.decoder.weight.zero_()
            model.flag_head.decoder.bias.fill_(-5.0)
    return R2DLM(model, tokenizer=codec, device="cpu", batch_size=2)


def test_importing_r2d_does_not_import_lm_eval():
    code = "import sys, r2d, r2d.evaluation, r2d.cli.eval; print('lm_eval' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True)
    assert out.stdout.strip() == "False"


def test_registered_as_r2d_beside_lm_evals_own_models():
    from lm_eval.api.registry import get_model, model_registry

    assert get_model("r2d") is R2DLM
    assert "hf" in model_registry  # registering first does not hide lm-eval's names


def test_by_name_from_model_args_and_bad_arguments(tmp_path, model_dir):
    folder = tmp_path / "blimp"
    folder.mkdir()
    rows = [{"sentence_good": "The dogs were riding.", "sentence_bad": "The dogs was riding.", "field": "morphology",
             "UID": "agreement"}] * 2
    (folder / "agreement.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = f"pretrained={model_dir},batch_size=2,device=cpu,max_length=16"
    res = lm_eval.simple_evaluate(model="r2d", model_args=args, tasks=["blimp_agreement"], log_samples=False,
                                  task_manager=task_manager(tmp_path / "t", blimp_dir=folder))
    assert res["results"]["blimp_agreement"]["acc,none"] in (0.0, 1.0)  # the same pair twice
    assert res["config"]["model"] == "r2d" and res["config"]["max_length"] == 16
    for kwargs, message in [({"max_length": 500}, r"max_length must be in \[2, 128\]"),
                            ({"stride": 64, "max_length": 64}, "stride must be smaller"),
                            ({"precision": "fp8"}, "unknown precision"),
                            ({"batch_size": "0"}, "batch_size must be >= 1")]:
        with pytest.raises(ValueError, match=message):
            R2DLM(str(model_dir), device="cpu", **kwargs)


@pytest.mark.parametrize("window", [None, 9])
def test_rolling_log_likelihood_is_the_bits_per_byte_numerator(codec, model_dir, window):
    lm = R2DLM(str(model_dir), device="cpu", batch_size=2, max_length=window)
    got = lm.loglikelihood_rolling(requests(*[(d,) for d in DOCS]))
    for doc, ll in zip(DOCS, got):
        bpb = bits_per_byte(lm.model, codec, [doc], window=window)
        assert ll == pytest.approx(-bpb.bits * LN2, rel=1e-5)  # every row and the end (</s>), windows alike


def test_rolling_scores_a_sentence_as_r2d_eval_blimp_does(codec, lm):
    sentences = ["The dogs were riding.", "A dog rides in Australia's parks.", "NASA's parks enjoyed it."]
    got = lm.loglikelihood_rolling(requests(*[(s,) for s in sentences]))
    assert got == pytest.approx(causal_scorer(lm.model, codec)(sentences), rel=1e-5)


def test_loglikelihood_follows_the_chain_rule_and_lm_evals_space_rule(lm):
    (joint, _), (ctx, _), (cont, _), (moved, _) = lm.loglikelihood(requests(
        ("", "The dogs were riding."), ("", "The dogs"), ("The dogs", " were riding."), ("The dogs ", "were riding.")))
    assert joint == pytest.approx(ctx + cont, rel=1e-5)  # log p(c x) = log p(c) + log p(x | c): no </s> scored
    assert moved == cont  # the context's trailing space moves to the continuation
    assert cont < 0


def test_a_continuations_leading_space_sets_its_first_words_flags(tiny_tok):
    lm = rigged(RowCodec(tiny_tok), 0)
    codec = lm.codec
    no_space = codec.flag_names.index("NoSpace")
    (ids, flags, skip), = lm._pair_rows([("The", " dogs")])
    whole_ids, whole_flags = codec.encode(["The dogs"])[0]
    assert ids == whole_ids[:-1] and (flags == whole_flags[:-1]).all()  # the text encoded whole, cut after "The"
    assert flags[skip, no_space] == 0
    # "The" + "dog": one word "Thedog" whole; the context's rows are not a prefix -> the continuation alone, a word
    (ids, flags, skip), = lm._pair_rows([("The dog", "s were")])
    alone = codec.encode(["s were"], add_special_tokens=False)[0]
    assert ids[skip:] == alone[0] and flags[skip, no_space] == 1
    (ids, _, skip), = lm._pair_rows([("", "The")])
    assert ids[0] == codec.bos_token_id and skip == 1  # an empty context is <s>


def test_is_greedy_counts_roots_and_free_flags(codec):
    (dog,), _ = codec.encode([" dog"], add_special_tokens=False)[0]
    lm = rigged(codec, dog)
    results = lm.loglikelihood(requests(("The", " dog dog"), ("The", " Dog"), ("The", " dog."), ("The", "")))
    assert [greedy for _, greedy in results] == [True, False, False, True]
    assert results[3][0] == 0.0  # nothing to score


def test_generate_until_stops_at_until_and_max_gen_toks(codec):
    (dog,), _ = codec.encode([" dog"], add_special_tokens=False)[0]
    lm = rigged(codec, dog)
    out = lm.generate_until([Instance("generate_until", {}, args, 0) for args in [
        ("The", {"until": ["g d"], "max_gen_toks": 5, "do_sample": False}),
        ("Hello world, hello", {"until": ["\n\n"], "max_gen_toks": 3, "temperature": 0.0}),
        ("The dogs were riding; a dog", {"until": ["\n\n"], "max_gen_toks": 3, "temperature": 0.0}),
        ("The", {"max_gen_toks": 2}),
    ]])
    assert out == [" do", " dog dog dog", " dog dog dog", " dog dog"]
    eos = rigged(codec, codec.eos_token_id)
    assert eos.generate_until([Instance("generate_until", {}, ("The", {"until": ["x"]}), 0)]) == [""]


def test_wikitext_pages_are_the_document_level_articles(tmp_path):
    raw = tmp_path / "wiki.test.raw"
    raw.write_bytes(WIKI.encode("utf-8"))
    text = read_text(raw)  # CRLF read as LF, as the document-level data set reads the raw file
    pages = wikitext_pages(text)
    assert [p.split("\n")[0] for p in pages] == [" = Alpha = ", " = Beta = "]
    assert "\n".join(pages) == text


def test_wikitext_pages_of_the_shared_test_file(shared_data):
    text = read_text(shared_data / "wikitext-2-raw" / "wiki.test.raw")
    pages = wikitext_pages(text)
    assert len(pages) == 62 and "\n".join(pages) == text


def test_lm_evals_wikitext_is_bits_of_detokenized_articles_over_bytes_of_the_raw_ones(tmp_path, codec, lm):
    raw = tmp_path / "wiki.test.raw"
    raw.write_bytes(WIKI.encode("utf-8"))
    manager = task_manager(tmp_path / "tasks", wikitext=raw)
    res = lm_eval.simple_evaluate(model=lm, tasks=["wikitext"], task_manager=manager, log_samples=False)
    pages = wikitext_pages(read_text(raw))
    bits = sum(bits_per_byte(lm.model, codec, [wikitext_detokenizer({"page": p})]).bits for p in pages)
    expected = bits / sum(len(p.encode("utf-8")) for p in pages)
    assert res["results"]["wikitext"]["bits_per_byte,none"] == pytest.approx(expected, rel=1e-5)
    whole = bits_per_byte(lm.model, codec, [raw.read_bytes().decode("utf-8")])  # r2d eval bpb: every byte
    assert whole.bytes == raw.stat().st_size > sum(len(p.encode("utf-8")) for p in pages)


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_blimp_equals_r2d_eval_blimp_per_paradigm(model_dir, shared_data, capsys):
    blimp = str(shared_data / "blimp")
    assert main(["eval", "blimp", "--model", str(model_dir), "--data-dir", blimp, "--limit", "12", "--json"]) == 0
    ours = json.loads(capsys.readouterr().out)
    assert main(["eval", "lm-eval", "--model", str(model_dir), "--tasks", "blimp", "--blimp-dir", blimp,
                 "--limit", "12", "--json"]) == 0
    harness = json.loads(capsys.readouterr().out)
    assert {k: v["acc,none"] for k, v in harness.items() if k != "blimp"} == {
        f"blimp_{uid}": acc for uid, acc in ours["paradigms"].items()}
    assert harness["blimp"]["acc,none"] == pytest.approx(ours["overall"])


def test_cli_wikitext_table_and_patterns(tmp_path, model_dir, capsys):
    raw = tmp_path / "wiki.test.raw"
    raw.write_bytes(WIKI.encode("utf-8"))
    folder = tmp_path / "blimp"
    folder.mkdir()
    row = {"sentence_good": "The dogs were riding.", "sentence_bad": "The dogs was riding.", "field": "morphology",
           "UID": "agreement"}
    (folder / "agreement.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    assert main(["eval", "lm-eval", "--model", str(model_dir), "--tasks", "wikitext,blimp_agr*", "--wikitext",
                 str(raw), "--blimp-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "bits_per_byte" in out and "blimp_agreement" in out and "wikitext" in out


def test_cli_help_and_errors(tmp_path, model_dir, capsys, monkeypatch):
    with pytest.raises(SystemExit) as e:
        main(["eval", "lm-eval", "--help"])
    assert e.value.code == 0 and "example:\n  r2d eval lm-eval --model" in capsys.readouterr().out
    assert main(["eval", "--help"]) == 0 and "lm-eval" in capsys.readouterr().out
    model = str(model_dir)

    def error(*argv) -> str:
        assert main(["eval", "lm-eval", *argv]) == 2
        return capsys.readouterr().err.strip()

    assert "needs --blimp-dir DIR" in error("--model", model, "--tasks", "blimp_transitive")
    assert "needs --wikitext FILE" in error("--model", model, "--tasks", "wikitext")
    assert f"--blimp-dir: {tmp_path / 'none'}: not a folder" in error(
        "--model", model, "--tasks", "blimp", "--blimp-dir", str(tmp_path / "none"))
    assert f"--wikitext {tmp_path / 'none.raw'}: no such file" in error(
        "--model", model, "--tasks", "wikitext", "--wikitext", str(tmp_path / "none.raw"))
    folder = tmp_path / "blimp"
    folder.mkdir()
    (folder / "transitive.jsonl").write_text('{"sentence_good": "A b."}\n', encoding="utf-8")
    assert "transitive.jsonl:1: field 'sentence_bad'" in error("--model", model, "--tasks", "blimp", "--blimp-dir",
                                                              str(folder))
    (folder / "transitive.jsonl").write_text(json.dumps({"sentence_good": "A b.", "sentence_bad": "B a.",
                                                         "field": "syntax", "UID": "transitive"}) + "\n")
    assert "--tasks blimp_island: no such task in --blimp-dir" in error(
        "--model", model, "--tasks", "blimp_island", "--blimp-dir", str(folder))
    assert f"{tmp_path}: no model here" in error("--model", str(tmp_path), "--tasks", "blimp", "--blimp-dir",
                                                 str(folder))
    assert "--limit must be >= 1" in error("--model", model, "--tasks", "blimp", "--limit", "0")
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # as if the extra were not installed
    assert 'pip install -e ".[eval]"' in error("--model", model, "--tasks", "blimp")
