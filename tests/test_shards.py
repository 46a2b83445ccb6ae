"""Corpus shards (:mod:`r2d.training.shards`): bits and files round trip, sequences equal the in-memory path's,
preparation streams, stale shards are found, bad input is named, and ``r2d prepare-corpus`` feeds ``r2d pretrain``."""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2d.cli import main
from r2d.io import InputError
from r2d.training.clm import causal_blocks
from r2d.training.data import (SequenceDataset, build_datasets, corpus_shards, held_out, iter_hub_documents,
                               read_documents, tokenize_documents)
from r2d.training.shards import (MANIFEST, Shards, ShardSequences, ShardWriter, id_dtype, pack_flags,
                                 prepare_shards, source_record, tokenizer_fingerprint, unpack_flags)
from r2d.training.trainer import read_metrics
from test_causal import tiny_bpe_twin

WORDS = ("the park parks ride riding rides enjoyed enjoy Australia's in I NASA It's walked walking "
         "community houses The Dogs dog, run. ran!").split()


def documents(n: int, seed: int = 0) -> list[str]:
    """Documents from one word to a few paragraphs (longer than every block size used here)."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.choice([1, 2, 5, 12, 40, 90]))) for _ in range(n)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "docs.txt"
    path.write_text("".join(d + "\n" for d in documents(40)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def twin():
    return tiny_bpe_twin()


@pytest.fixture(scope="module")
def roberta():
    from r2d.tokenizer.baseline import roberta_tokenizer

    return roberta_tokenizer()


# ------------------------------------------------------------------------------------------------ bits and files


def test_ids_take_the_smallest_unsigned_type():
    assert [id_dtype(v) for v in (2, 256, 257, 50265, 65536, 65537)] == \
        [np.uint8, np.uint8, np.uint16, np.uint16, np.uint16, np.uint32]


@given(st.integers(0, 40), st.integers(1, 70), st.integers(0, 2**32 - 1))
def test_flags_pack_and_unpack(n, f, seed):
    flags = (np.random.default_rng(seed).random((n, f)) < 0.3).astype(np.uint8)
    packed = pack_flags(flags)
    assert packed.dtype == np.uint8 and packed.shape == (n, (f + 7) // 8)
    assert np.array_equal(unpack_flags(packed, f), flags)


@settings(max_examples=min(60, int(os.environ.get("HYPOTHESIS_EXAMPLES", "200"))))
@given(st.lists(st.integers(1, 30), min_size=1, max_size=25), st.integers(0, 11), st.integers(1, 80),
       st.integers(0, 3), st.randoms(use_true_random=False))
def test_shard_files_round_trip(lengths, num_flags, shard_rows, cut, rng):
    """Documents written in batches of any split into shards of any size read back exactly, by document."""
    n = sum(lengths)
    draw = np.random.default_rng(rng.randrange(2**32))
    ids = draw.integers(0, 70000, n).astype(np.uint32)
    flags = (draw.random((n, num_flags)) < 0.5).astype(np.uint8)
    with tempfile.TemporaryDirectory() as d:
        writer = ShardWriter(Path(d), dtype=id_dtype(70000), num_flags=num_flags, shard_rows=shard_rows)
        bounds = sorted({0, len(lengths), *(rng.randrange(len(lengths) + 1) for _ in range(cut))})
        ends = np.concatenate([[0], np.cumsum(lengths)])
        for a, b in zip(bounds, bounds[1:]):
            r0, r1 = ends[a], ends[b]
            writer.add(lengths[a:b], ids[r0:r1], pack_flags(flags[r0:r1]) if num_flags else None)
        manifest = {**writer.close(), "tokenizer": {"bos_token_id": 0, "eos_token_id": 2}, "sources": [],
                    "complete": True}
        (Path(d) / MANIFEST).write_text(json.dumps(manifest))
        shards = Shards(d)
        assert (shards.documents, shards.rows) == (len(lengths), n)
        assert all(s["rows"] >= 1 for s in manifest["shards"])
        for k in range(len(lengths)):
            got_ids, got_flags = shards.doc_rows(k)
            assert shards.doc_start(k) == ends[k]
            assert got_ids.tolist() == ids[ends[k]:ends[k + 1]].tolist()
            if num_flags:
                assert np.array_equal(got_flags, flags[ends[k]:ends[k + 1]])
            else:
                assert got_flags is None
        assert shards.doc_start(len(lengths)) == n
        assert np.concatenate(list(shards.doc_lengths(0, len(lengths)))).tolist() == lengths


@settings(max_examples=min(40, int(os.environ.get("HYPOTHESIS_EXAMPLES", "200"))))
@given(st.lists(st.text(min_size=1, max_size=40).filter(str.strip), min_size=1, max_size=8), st.integers(1, 30))
def test_text_through_shards_is_the_tokenizers_rows_and_decodes_back(tiny_tok, texts, shard_rows):
    with tempfile.TemporaryDirectory() as d:
        shards = prepare_shards(iter(texts), tiny_tok, Path(d) / "s", sources=[], tokenizer_name="tiny",
                                fingerprint="-", shard_rows=shard_rows, batch_chars=16)
        enc = tiny_tok(texts, add_special_tokens=False)
        for k, text in enumerate(texts):
            ids, flags = shards.doc_rows(k)
            assert ids.tolist() == enc["input_ids"][k]
            assert flags.tolist() == [list(row) for row in enc["flags"][k]]
            assert tiny_tok.decode(ids.tolist(), flags.tolist()) == text


# ------------------------------------------------------------------------------------------------ the same sequences


def _in_memory(corpus, tokenizer, *, objective, max_length, pack, with_flags, eval_fraction, eval_size):
    """The sequences of the former in-memory path: all documents read, split, tokenized by the reference builders."""
    docs = read_documents([str(corpus)])
    n_eval = held_out(len(docs), eval_fraction)
    build = tokenize_documents if objective == "mlm" else causal_blocks
    kw = dict(max_length=max_length, pack=pack, with_flags=with_flags,
              num_flags=tokenizer.num_flags if with_flags else 0)
    return build(docs[:-n_eval], tokenizer, **kw), build(docs[-n_eval:], tokenizer, **kw).head(eval_size)


def _same_examples(a, b) -> None:
    assert len(a) == len(b)
    da, db = SequenceDataset(a), SequenceDataset(b)
    for i in range(len(a)):
        x, y = da[i], db[i]
        assert set(x) == set(y) and x["input_ids"] == y["input_ids"] and x["attention_mask"] == y["attention_mask"]
        if "flags" in x:
            assert np.array_equal(x["flags"], y["flags"]) and x["flags"].dtype == y["flags"].dtype
    assert a.num_rows == b.num_rows and a.mean_rows() == pytest.approx(b.mean_rows())


@pytest.mark.parametrize("objective,kind", [("mlm", "r2d"), ("mlm", "roberta"), ("clm", "r2d"), ("clm", "twin")])
@pytest.mark.parametrize("pack", [False, True])
def test_sequences_from_shards_equal_the_in_memory_ones(tmp_path, corpus, tiny_tok, twin, roberta, objective, kind,
                                                        pack):
    tokenizer = {"r2d": tiny_tok, "twin": twin, "roberta": roberta}[kind]
    with_flags = kind == "r2d"
    for max_length in (5, 24):
        settings_ = dict(objective=objective, max_length=max_length, pack=pack, with_flags=with_flags,
                         eval_fraction=0.1, eval_size=7)
        train, evals = build_datasets([str(corpus)], tokenizer, cache_dir=tmp_path / f"run{max_length}",
                                      tokenizer_id=kind, max_docs=None, workers=0, **settings_)
        ref_train, ref_eval = _in_memory(corpus, tokenizer, **settings_)
        _same_examples(train, ref_train)
        _same_examples(evals, ref_eval)
        assert isinstance(train, ShardSequences)


def test_worker_processes_and_shard_sizes_do_not_change_the_shards(tmp_path, corpus, tiny_tok):
    """Two spawned worker processes and 50-row shards give the files of one process and one shard, and a run over
    those prepared shards sees the raw file's sequences."""
    docs = read_documents([str(corpus)])
    one = prepare_shards(iter(docs), tiny_tok, tmp_path / "one", sources=[], tokenizer_name="tiny", workers=0)
    two = prepare_shards(iter(docs), tiny_tok, tmp_path / "two", sources=[source_record(str(corpus))],
                         tokenizer_name="tiny", workers=2, shard_rows=50, batch_chars=100)
    assert len(one.manifest["shards"]) == 1 and len(two.manifest["shards"]) > 3
    assert one.manifest["tokenizer"] == two.manifest["tokenizer"] and one.rows == two.rows
    for k in range(len(docs)):
        a, b = one.doc_rows(k), two.doc_rows(k)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    for objective in ("mlm", "clm"):
        kw = dict(tokenizer_id="tiny", with_flags=True, max_length=16, pack=True, max_docs=30, eval_fraction=0.1,
                  eval_size=8, objective=objective)
        got = build_datasets([str(tmp_path / "two")], tiny_tok, cache_dir=tmp_path / f"run-{objective}", **kw)
        ref = build_datasets([str(corpus)], tiny_tok, cache_dir=tmp_path / f"ref-{objective}", workers=0, **kw)
        for a, b in zip(got, ref):
            _same_examples(a, b)


def test_preparation_streams_the_documents(tmp_path, tiny_tok, monkeypatch):
    """Documents are tokenized and written while they are read: never more than a batch ahead of the files."""
    written = [0]
    add = ShardWriter.add

    def counting_add(self, lengths, ids, flags):
        add(self, lengths, ids, flags)
        written[0] = self.documents

    monkeypatch.setattr(ShardWriter, "add", counting_add)
    ahead = []

    def docs():
        for k, d in enumerate(documents(300, seed=3)):
            ahead.append(k - written[0])
            yield d

    shards = prepare_shards(docs(), tiny_tok, tmp_path / "s", sources=[], tokenizer_name="tiny", fingerprint="-",
                            batch_chars=2000)
    assert shards.documents == 300 and max(ahead) < 60


# ------------------------------------------------------------------------------------------------ stale and bad


def test_run_shards_are_reused_or_remade_when_stale(tmp_path, tiny_tok, twin, caplog):
    path = tmp_path / "c.txt"
    path.write_text("".join(d + "\n" for d in documents(10)), encoding="utf-8")
    folder = tmp_path / "run" / "shards"
    kw = dict(folder=folder, tokenizer_name="tiny", workers=0)
    first = corpus_shards([str(path)], tiny_tok, **kw)
    stamp = (folder / MANIFEST).stat().st_mtime_ns
    assert corpus_shards([str(path)], tiny_tok, **kw).documents == 10
    assert (folder / MANIFEST).stat().st_mtime_ns == stamp  # reused
    assert corpus_shards([str(path)], tiny_tok, max_docs=4, **kw).documents == 10  # a cut is served from them
    path.write_text("".join(d + "\n" for d in documents(12)), encoding="utf-8")
    with caplog.at_level("INFO"):
        assert corpus_shards([str(path)], tiny_tok, **kw).documents == 12
    assert "other corpus files" in caplog.text
    assert corpus_shards([str(path)], twin, **kw).num_flags == 0  # another tokenizer: remade
    assert first.folder == folder and not list(folder.parent.glob(".*tmp"))


def test_processes_of_one_run_make_its_shards_once(tmp_path, corpus, tiny_tok, caplog):
    """Ranks of a multi-process run all ask for the run's shards at once: one makes them, the others reuse them."""
    from concurrent.futures import ThreadPoolExecutor

    folder = tmp_path / "run" / "data" / "shards"
    with caplog.at_level("INFO"), ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda _: corpus_shards([str(corpus)], tiny_tok, folder=folder, tokenizer_name="tiny",
                                                    workers=0).manifest, range(3)))
    assert got[0] == got[1] == got[2] and caplog.text.count("reusing the corpus shards") == 2


def test_prepared_shards_of_another_tokenizer_or_changed_files_are_refused(tmp_path, tiny_tok, twin, capsys):
    path = tmp_path / "c.txt"
    path.write_text("".join(d + "\n" for d in documents(10)), encoding="utf-8")
    shards = tmp_path / "shards"
    prepare_shards(iter(documents(10)), tiny_tok, shards, sources=[source_record(str(path))], tokenizer_name="tiny")
    with pytest.raises(InputError, match=rf"--corpus {shards}: these shards were made with another tokenizer \(tiny\)"):
        corpus_shards([str(shards)], twin, folder=tmp_path / "x", tokenizer_name="twin")
    assert corpus_shards([str(shards)], tiny_tok, folder=tmp_path / "x", tokenizer_name="tiny").documents == 10
    path.write_text("changed\n", encoding="utf-8")
    with pytest.raises(InputError, match="stale: .*c.txt changed since the shards were made"):
        corpus_shards([str(shards)], tiny_tok, folder=tmp_path / "x", tokenizer_name="tiny")
    assert not (tmp_path / "x").exists()


def test_broken_shard_folders_are_named(tmp_path, tiny_tok):
    folder = tmp_path / "s"
    prepare_shards(iter(documents(5)), tiny_tok, folder, sources=[], tokenizer_name="tiny", fingerprint="-")
    ids = folder / "shard-00000.ids"
    ids.write_bytes(ids.read_bytes()[:-2])
    with pytest.raises(InputError, match=rf"--corpus {ids}: .* bytes, the manifest says"):
        Shards(folder, what="--corpus")
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "num_flags": "seven"}))
    with pytest.raises(InputError, match="field 'num_flags': missing or not an integer"):
        Shards(folder)
    (folder / MANIFEST).write_text("{")
    with pytest.raises(InputError, match=rf"{folder / MANIFEST}: not JSON"):
        Shards(folder)


def test_hub_datasets_stream(tmp_path):
    """The Hub path streams (``datasets`` streaming mode); a local dataset folder stands in for the Hub."""
    d = tmp_path / "dataset"
    d.mkdir()
    rows = [{"text": "First document."}, {"text": "   "}, {"text": ""}, {"text": "Second one."}]
    (d / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert list(iter_hub_documents(str(d))) == ["First document.", "Second one."]


def test_fingerprint_ignores_the_length_limit_and_sees_the_vocabulary(tiny_tok, twin):
    import copy

    other = copy.deepcopy(tiny_tok)
    other.model_max_length = 7
    assert tokenizer_fingerprint(other) == tokenizer_fingerprint(tiny_tok)
    twin("x " * 600, truncation=True, max_length=8)  # a call leaves truncation settings in the backend
    assert tokenizer_fingerprint(twin) == tokenizer_fingerprint(tiny_bpe_twin())
    assert tokenizer_fingerprint(tiny_bpe_twin(290)) != tokenizer_fingerprint(twin)


# ------------------------------------------------------------------------------------------------ the commands


def test_prepare_corpus_then_pretrain_reads_the_shards(tmp_path, corpus, tiny_tok, capsys):
    """``r2d prepare-corpus`` and ``r2d pretrain --corpus SHARDS`` train exactly as ``r2d pretrain --corpus FILE``."""
    tok = tmp_path / "tok"
    tiny_tok.save_pretrained(tok)
    shards = tmp_path / "shards"
    prep = ["prepare-corpus", "--corpus", str(corpus), "--tokenizer", str(tok), "--out", str(shards), "--no-progress",
            "--workers", "0"]
    assert main(prep) == 0
    assert "wrote" in capsys.readouterr().out and (shards / MANIFEST).is_file()
    assert main(prep) == 0 and "up to date" in capsys.readouterr().out
    common = ["pretrain", "--objective", "clm", "--model", "r2d", "--preset", "tiny", "--tokenizer", str(tok),
              "--max-steps", "2", "--eval-steps", "2", "--save-steps", "2", "--logging-steps", "1", "--max-length",
              "16", "--batch-size", "4", "--no-progress", "--pack", "--seed", "0"]
    assert main([*common, "--corpus", str(shards), "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--corpus", str(corpus), "--out", str(tmp_path / "b")]) == 0
    key = lambda out: [(r["step"], r.get("loss"), r.get("eval_loss")) for r in read_metrics(out / "metrics.jsonl")
                       if "train_runtime" not in r]
    assert key(tmp_path / "a") == key(tmp_path / "b")
    assert not (tmp_path / "a" / "data" / "shards").exists() and (tmp_path / "b" / "data" / "shards").is_dir()
    meta = json.loads((tmp_path / "a" / "data" / "meta.json").read_text())
    assert meta["shards"] == str(shards.resolve())
    capsys.readouterr()
    # another tokenizer for these shards: one line, exit 2
    twin_dir = tmp_path / "twin"
    tiny_bpe_twin().save_pretrained(twin_dir)
    assert main([*common, "--model", "bpe", "--tokenizer", str(twin_dir), "--corpus", str(shards),
                 "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "these shards were made with another tokenizer" in err
    assert not (tmp_path / "c").exists()


def test_prepare_corpus_bad_input_and_stale_out(tmp_path, corpus, tiny_tok, capsys):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("good line\ncaf\u00e9 au lait\n".encode("latin-1"))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["prepare-corpus", "--corpus", str(latin1), "--out", str(out / "s"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("r2d prepare-corpus: error: ") and "latin1.txt:2: not UTF-8 text" in err
    assert list(out.iterdir()) == []  # nothing written, not even a temp folder
    tok = tmp_path / "tok"
    tiny_tok.save_pretrained(tok)
    base = ["prepare-corpus", "--corpus", str(corpus), "--out", str(out / "s"), "--no-progress", "--workers", "0"]
    assert main([*base, "--tokenizer", str(tok)]) == 0
    assert main([*base, "--model", "bpe"]) == 2  # made with another tokenizer
    assert "holds shards made with another tokenizer" in capsys.readouterr().err
    assert main([*base, "--model", "bpe", "--overwrite"]) == 0
    assert Shards(out / "s").num_flags == 0
    assert main([*base, "--workers", "-1"]) == 2 and "--workers -1: must be >= 0" in capsys.readouterr().err
