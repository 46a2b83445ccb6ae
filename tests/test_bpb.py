"""Bits per byte: the known answer of a model that outputs zeros, windows, agreement with the loss, the CLI."""

import json
import math

import pytest
import torch

from r2d.cli import main
from r2d.evaluation.bpb import bits_per_byte, windows
from r2d.modeling.causal_data import CausalCollator, RowCodec
from host_reads import count_host_reads
from test_causal import saved_tiny_causal_lm, tiny_bpe_twin, tiny_causal_lm

DOCS = ["I enjoyed riding in Australia's parks.", "Zorping dogs; McDonald riding.\tHéllo wörld 🙂",
        "The dogs were riding. " * 12]


@pytest.fixture(scope="module", params=["r2d", "twin"])
def codec(request, tiny_tok):
    return RowCodec(tiny_tok if request.param == "r2d" else tiny_bpe_twin())


def zero_heads(model):
    with torch.no_grad():
        model.model.norm.weight.zero_()  # hidden 0 -> root logits 0
        if model.flag_head is not None:
            model.flag_head.decoder.weight.zero_()
            model.flag_head.decoder.bias.zero_()
    return model


@pytest.mark.parametrize("window", [None, 9])
def test_known_answer_a_model_whose_heads_output_zeros(codec, window):
    model = zero_heads(tiny_causal_lm(codec))
    result = bits_per_byte(model, codec, DOCS, window=window, batch_size=3)
    encoded = codec.encode(DOCS)
    predicted = sum(len(ids) - 1 for ids, _ in encoded)  # every row but <s>, </s> included
    free = sum(int(codec.word_start[ids].sum()) for ids, _ in encoded)  # word-start rows: their flags are free
    nbytes = sum(len(d.encode("utf-8")) for d in DOCS)
    expected = (predicted * math.log2(codec.vocab_size) + free * codec.num_flags) / nbytes
    assert result.rows == predicted and result.bytes == nbytes and result.documents == 3
    assert result.free_flag_rows == (free if codec.num_flags else 0)
    assert result.bits_per_byte == pytest.approx(expected, rel=1e-6)
    if codec.num_flags:
        assert 0 < free < predicted  # continuation pieces and </s> have fixed flags: 0 bits


def test_one_window_equals_the_training_loss(codec):
    model = tiny_causal_lm(codec)
    doc = DOCS[1]
    result = bits_per_byte(model, codec, [doc])
    (ids, flags), = codec.encode([doc])
    batch = CausalCollator.for_codec(codec)([{"input_ids": ids, "flags": flags}])
    out = model(**batch)
    assert result.rows == len(ids) - 1
    assert result.bits == pytest.approx(out.loss.item() * result.rows / math.log(2), rel=1e-5)


def test_windows_score_every_row_once_with_enough_context():
    for n, w, s in [(5, 8, 4), (8, 8, 4), (9, 8, 4), (30, 8, 3), (31, 10, 9)]:
        spans = list(windows(n, w, s))
        assert all(end - start <= w for start, end, _ in spans)
        start, _, first = spans[0]
        assert (start, first) == (0, 1)  # the first window starts at <s> and scores from the row after it
        assert all(first - start >= w - s for start, _, first in spans[1:])  # later ones read w - s rows first
        assert [row for _, end, first in spans for row in range(first, end)] == list(range(1, n))


def test_a_long_document_in_windows_scores_more_than_with_full_context_only_a_little(codec):
    model = tiny_causal_lm(codec)
    full = bits_per_byte(model, codec, [DOCS[2]], window=model.config.max_position_embeddings)
    cut = bits_per_byte(model, codec, [DOCS[2]], window=12, stride=4)
    assert cut.rows == full.rows and cut.bytes == full.bytes
    assert cut.bits != full.bits and abs(cut.bits - full.bits) < 0.2 * full.bits


def test_bad_window_settings_raise(codec):
    model = tiny_causal_lm(codec)
    with pytest.raises(ValueError, match="stride"):
        bits_per_byte(model, codec, DOCS, window=8, stride=8)
    with pytest.raises(ValueError, match=r"window 129 .*max_position_embeddings 128"):
        bits_per_byte(model, codec, DOCS, window=129)  # longer than the model can read


# ------------------------------------------------------------------------------------------------ CLI


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, codec):
    return saved_tiny_causal_lm(tmp_path_factory.mktemp("model"), codec)


def test_cli_eval_bpb_json_matches_the_library(tmp_path, model_dir, codec, capsys):
    text = tmp_path / "t.txt"
    raw = "\r\n".join(DOCS) + "\r\n\r\n \n"  # CRLF, a blank line, a space: all of it is text
    text.write_bytes(raw.encode("utf-8"))
    assert main(["eval", "bpb", "--model", str(model_dir), "--text", str(text), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    lib = bits_per_byte(tiny_causal_lm(codec), codec, [raw])  # a plain file is one document: every byte
    assert report["bytes"] == text.stat().st_size == lib.bytes and report["documents"] == 1
    assert report["documents_rule"] == {str(text): "file"}
    assert report["bits_per_byte"] == pytest.approx(lib.bits_per_byte, rel=1e-5)
    assert (report["rows"], report["kind"]) == (lib.rows, "r2d" if codec.num_flags else "bpe")
    assert report["bits"] == pytest.approx(report["bits_per_byte"] * report["bytes"])
    # --documents lines: each non-blank line alone, line breaks neither predicted nor counted
    assert main(["eval", "bpb", "--model", str(model_dir), "--text", str(text), "--documents", "lines",
                 "--json"]) == 0
    lines = json.loads(capsys.readouterr().out)
    lib = bits_per_byte(tiny_causal_lm(codec), codec, DOCS)
    assert (lines["bytes"], lines["documents"], lines["documents_rule"]) == (lib.bytes, 3, {str(text): "lines"})
    assert lines["bytes"] < report["bytes"] and lines["bits_per_byte"] == pytest.approx(lib.bits_per_byte, rel=1e-5)
    assert main(["eval", "bpb", "--model", str(model_dir), "--text", str(text)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("bits_per_byte ") and f"{text}: file" in out


def test_cli_eval_bpb_scores_wikiextractor_articles(tmp_path, model_dir, codec, capsys):
    text = tmp_path / "wiki.txt"
    text.write_text('<doc id="1" title="A">\nA\n\nFirst article. Two lines.\n</doc>\n<doc id="2" title="B">\nB\n'
                    "Second.\n</doc>\n", encoding="utf-8")
    for rule in ("auto", "lines"):  # marked articles either way
        assert main(["eval", "bpb", "--model", str(model_dir), "--text", str(text), "--documents", rule,
                     "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        lib = bits_per_byte(tiny_causal_lm(codec), codec, ["A\nFirst article. Two lines.", "B\nSecond."])
        assert (report["documents"], report["bytes"]) == (2, lib.bytes)
        assert report["documents_rule"] == {str(text): "wikiextractor"}


def test_cli_eval_help_and_errors(tmp_path, model_dir, capsys):
    assert main(["eval"]) == 2 and "bpb" in capsys.readouterr().err  # no evaluation named: a usage error
    assert main(["eval", "--help"]) == 0 and "blimp" in capsys.readouterr().out
    assert main(["eval", "nope"]) == 2 and "unknown evaluation 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["eval", "bpb", "--help"])
    assert info.value.code == 0 and "example:" in capsys.readouterr().out
    text = tmp_path / "t.txt"
    text.write_text("Hello there.\n", encoding="utf-8")
    cases = [
        (["--model", str(model_dir), "--text", str(tmp_path / "missing.txt")], "missing.txt"),
        (["--model", str(tmp_path), "--text", str(text)], "no model here"),
        (["--model", str(model_dir), "--text", str(text), "--window", "8", "--stride", "8"], "--stride"),
        (["--model", str(model_dir), "--text", str(text), "--window", "1"], "--window must be >= 2"),
        (["--model", str(model_dir), "--text", str(text), "--window", "100000"],
         "--window 100000: longer than the model can read (max_position_embeddings 128)"),
    ]
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    cases.append((["--model", str(model_dir), "--text", str(empty)], "no text"))
    for args, msg in cases:
        assert main(["eval", "bpb", *args]) == 2
        err = capsys.readouterr().err
        assert msg in err and err.startswith("r2d eval bpb: error:") and err.count("\n") == 1, err


# ------------------------------------------------------------------------------------------------ devices


def test_the_device_is_read_once_per_call_whatever_the_number_of_batches(codec):
    model = tiny_causal_lm(codec)
    counts, results = [], []
    for batch_size in (1, 2, 16):  # 5 windows: 5, 3 and 1 batches
        with count_host_reads(model) as reads:
            results.append(bits_per_byte(model, codec, DOCS, window=16, batch_size=batch_size))
        counts.append(len(reads.reads))
    assert counts == [1, 1, 1], counts
    assert results[0].bits == pytest.approx(results[2].bits, rel=1e-5) and results[0].rows == results[2].rows


def test_per_document_bits_add_up_and_equal_one_document_at_a_time(codec):
    model = tiny_causal_lm(codec)
    docs = [DOCS[0], "", DOCS[2], DOCS[1]]
    result = bits_per_byte(model, codec, docs, window=16, batch_size=4, per_document=True)
    assert result.documents == 3 and len(result.document_bits) == 3 and sum(result.document_bytes) == result.bytes
    assert sum(result.document_bits) == pytest.approx(result.bits, rel=1e-9)
    alone = [bits_per_byte(model, codec, [d], window=16).bits for d in docs if d]
    assert result.document_bits == pytest.approx(alone, rel=1e-5)
    assert "document_bits" not in bits_per_byte(model, codec, docs).to_dict()


def test_precision_is_recorded_and_checked(codec):
    model = tiny_causal_lm(codec)
    fp32 = bits_per_byte(model, codec, DOCS)
    assert (fp32.precision, fp32.device) == ("fp32", "cpu") and fp32.to_dict()["precision"] == "fp32"
    bf16 = bits_per_byte(model, codec, DOCS, precision="bf16")  # CPU autocast: close, not equal
    assert bf16.precision == "bf16" and bf16.bits_per_byte == pytest.approx(fp32.bits_per_byte, rel=0.05)
    with pytest.raises(ValueError, match="precision"):
        bits_per_byte(model, codec, DOCS, precision="half")


@pytest.mark.cuda
def test_bits_per_byte_on_cuda_matches_the_cpu_and_waits_once_per_call(codec):
    import warnings

    cpu = tiny_causal_lm(codec)
    gpu = tiny_causal_lm(codec).cuda()
    ref = bits_per_byte(cpu, codec, DOCS, window=16)
    fp32 = bits_per_byte(gpu, codec, DOCS, window=16, precision="fp32")
    bf16 = bits_per_byte(gpu, codec, DOCS, window=16)  # auto: bf16 autocast on a GPU that has it
    assert fp32.device.startswith("cuda") and fp32.rows == ref.rows
    assert fp32.bits_per_byte == pytest.approx(ref.bits_per_byte, rel=2e-3)  # TF32 matrix products
    assert bf16.precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp32")
    assert bf16.bits_per_byte == pytest.approx(ref.bits_per_byte, rel=3e-2)
    waits = []
    for batch_size in (1, 16):
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                bits_per_byte(gpu, codec, DOCS, window=16, batch_size=batch_size)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        waits.append(sum("synchroniz" in str(w.message) for w in caught))
    assert waits[0] == waits[1] <= 2, waits  # the same waits for 5 batches as for 1: none per batch


def test_cli_eval_bpb_device_and_precision(tmp_path, model_dir, capsys):
    """--device/--precision as the other model commands take them: the figure on cpu/fp32 is the default's here."""
    text = tmp_path / "t.txt"
    text.write_text("\n".join(DOCS), encoding="utf-8")
    base = ["eval", "bpb", "--model", str(model_dir), "--text", str(text), "--json"]
    assert main(base) == 0
    default = json.loads(capsys.readouterr().out)
    assert main(base + ["--device", "cpu", "--precision", "fp32"]) == 0
    assert json.loads(capsys.readouterr().out)["bits_per_byte"] == pytest.approx(default["bits_per_byte"], rel=1e-6)
    assert main(base + ["--device", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert "--device nonsense" in err and "Traceback" not in err
