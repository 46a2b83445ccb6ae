"""Tests for r2d.serve: the JSON API (contracts, limits, errors, the generation stream), ``r2d serve`` through
``main([...])``, and the page itself in a real headless Chromium.

The browser tests need Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium
chromium-driver``; ``.ci/run`` installs them) and skip, saying so, where they are missing. Generation is
tested with a fake generator injected into the app, so nothing here needs a causal model. To refresh the
README's screenshot: ``R2D_PLAYGROUND_SCREENSHOT=docs/playground.png python -m pytest -q tests/test_serve.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import given, strategies as st
from starlette.testclient import TestClient

from r2d.serve import LoadedModel, create_app
from r2d.serve.views import tokenize_view

ARTICLE = "I enjoyed riding in Australia's parks."
# the article's table: root and flags (NoSpace, FirstCap, AllCaps, Suffix_s, Suffix_ed, Suffix_ing, Contraction_s)
ARTICLE_ROWS = [("i", "1100000"), ("enjoy", "0000100"), ("ride", "0000010"), ("in", "0000000"),
                ("australia", "0100001"), ("park", "0001000"), (".", "1000000")]
STATIC = Path(__file__).resolve().parents[1] / "src" / "r2d" / "serve" / "static"


def fake_words(prompt: str) -> list[dict]:
    return [{"text": " Dogs", "rows": [{"root": "dog", "id": 1983, "flags": {"FirstCap": 1, "Suffix_s": 1}}]},
            {"text": " <b>barked</b>", "rows": [{"root": "<b>bark", "id": 7, "flags": {"Suffix_ed": 1}},
                                                {"root": "</b>", "id": 8, "flags": {}}]},
            {"text": ".", "rows": [{"root": ".", "id": 362, "flags": {"NoSpace": 1}}]}]


class FakeGenerator:
    """Stands in for ``stream_generate``: records its arguments, notes when closed, and with ``block`` makes its
    first run wait after its first word until ``release`` is set."""

    def __init__(self, *, block: bool = False, fail: bool = False):
        self.calls: list[dict] = []
        self.started, self.release, self.closed = threading.Event(), threading.Event(), threading.Event()
        self.block, self.fail = block, fail

    def __call__(self, model, tokenizer, prompt, *, max_new_tokens, temperature, top_k, top_p, seed):
        self.calls.append(dict(model=model, prompt=prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                               top_k=top_k, top_p=top_p, seed=seed))
        first = len(self.calls) == 1
        try:
            for k, word in enumerate(fake_words(prompt)):
                if self.fail and k == 1:
                    raise RuntimeError("the model fell over")
                yield word
                if first:
                    self.started.set()
                    if self.block:
                        self.release.wait(timeout=30)
        finally:
            self.closed.set()


def events(body: str) -> list[tuple[str, dict]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


@pytest.fixture(scope="module")
def apps(request):
    en = request.getfixturevalue("en_tok")
    tiny = request.getfixturevalue("tiny_tok")
    return {"tokenizers": {"r2d-en": en, "tiny": tiny}}


def client_for(apps, **kwargs) -> TestClient:
    return TestClient(create_app(**{**apps, **kwargs}), base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def client(apps):
    with client_for(apps) as c:
        yield c


# ---------------------------------------------------------------------------------------------- API contracts
def test_info_lists_tokenizers_flags_and_limits(client):
    info = client.get("/api/info").json()
    assert [t["name"] for t in info["tokenizers"]] == ["r2d-en", "tiny"]
    assert [(f["name"], f["label"]) for f in info["tokenizers"][0]["flags"]][:3] == [
        ("NoSpace", "NoSp"), ("FirstCap", "Cap"), ("AllCaps", "CAPS")]
    assert info["models"] == [] and "r2d pretrain --objective clm" in info["model_hint"]
    assert info["limits"]["max_text_bytes"] == 1_000_000


def test_tokenize_article_sentence(client, en_tok):
    doc = client.post("/api/tokenize", json={"text": ARTICLE}).json()
    names = doc["flag_names"]
    got = [(w["root"], "".join(str(w["flags"][n]) for n in names)) for w in doc["words"]]
    assert got == ARTICLE_ROWS
    assert [w["text"] for w in doc["words"]] == ["I", " enjoyed", " riding", " in", " Australia's", " parks", "."]
    assert doc["words"][4]["span"] == [19, 31] and ARTICLE[19:31] == " Australia's"
    enc = en_tok(ARTICLE)
    assert doc["raw"]["input_ids"] == list(enc["input_ids"]) and doc["raw"]["flags"] == [list(f) for f in enc["flags"]]
    assert [i for w in doc["words"] for i in w["ids"]] == list(enc["input_ids"])[1:-1]
    assert "".join(t["text"] for t in doc["roberta"]) == ARTICLE
    assert doc["counts"] == {"bytes": 38, "words": 6, "pieces": 7, "rows": 7, "roberta_tokens": len(doc["roberta"]),
                             "rows_per_1000_bytes": 184.2, "roberta_per_1000_bytes": round(1000 * len(doc["roberta"]) / 38, 1),
                             "round_trip": True}


def test_tokenize_picks_the_named_tokenizer_and_keeps_unicode(client, tiny_tok):
    text = "héllo 😀 dogs\n\n  rides"
    doc = client.post("/api/tokenize", json={"text": text, "tokenizer": "tiny"}).json()
    assert doc["tokenizer"] == "tiny" and doc["raw"]["input_ids"] == list(tiny_tok(text)["input_ids"])
    assert "".join(w["text"] for w in doc["words"]) == text and doc["counts"]["round_trip"]
    # a lone surrogate survives the trip through JSON
    doc = client.post("/api/tokenize", content=b'{"text": "a\\ud800b"}').json()
    assert "".join(w["text"] for w in doc["words"]) == "a\ud800b" and doc["counts"]["round_trip"]


@given(st.text(max_size=60))
def test_words_partition_the_text_and_decode_to_it(en_tok, text):
    view = tokenize_view(en_tok, text, name="r2d-en")
    assert "".join(w["text"] for w in view["words"]) == text
    assert [i for w in view["words"] for i in w["ids"]] == view["raw"]["input_ids"][1:-1]
    for w in view["words"]:
        assert text[w["span"][0]:w["span"][1]] == w["text"]
        flags = [list(w["flags"].values())] * len(w["ids"])
        assert en_tok.decode(w["ids"], flags) == w["text"]
    assert view["counts"]["round_trip"]


def test_decode_inverts_tokenize(client):
    raw = client.post("/api/tokenize", json={"text": ARTICLE}).json()["raw"]
    assert client.post("/api/decode", json=raw).json() == {"text": ARTICLE}
    ride = 3  # rows: <s> i enjoy ride ...
    flags = [[0] * 7 for _ in raw["input_ids"]]
    flags[ride][5] = 1  # Suffix_ing
    assert client.post("/api/decode", json={"input_ids": [0, raw["input_ids"][ride], 2], "flags": [flags[0], flags[ride], flags[0]]}
                       ).json() == {"text": " riding"}
    out = client.post("/api/decode", json={"input_ids": [0, 2], "skip_special_tokens": False})
    assert out.status_code == 200 and out.json() == {"text": "<s></s>"}
    # without flags every flag is 0: the roots, each with a space before it
    assert client.post("/api/decode", json={"input_ids": raw["input_ids"]}).json() == {
        "text": " i enjoy ride in australia park ."}


@pytest.mark.parametrize("path, body, status, words", [
    ("/api/tokenize", b"{not json", 400, "not valid JSON"),
    ("/api/tokenize", b"", 400, "empty request body"),
    ("/api/tokenize", b"[1, 2]", 400, "must be a JSON object, got an array"),
    ("/api/tokenize", b"\xff\xfe", 400, "not UTF-8"),
    ("/api/tokenize", b'{"txt": "a"}', 422, "missing field 'text'"),
    ("/api/tokenize", b'{"text": 5}', 422, "field 'text' must be a string, got a number"),
    ("/api/tokenize", b'{"text": "a", "tokenizer": "../../etc/passwd"}', 422, "unknown tokenizer '../../etc/passwd'"),
    ("/api/decode", b'{"flags": []}', 422, "missing field 'input_ids'"),
    ("/api/decode", b'{"input_ids": [1, "x"]}', 422, "integers only"),
    ("/api/decode", b'{"input_ids": [1, 2], "flags": [[0,0,0,0,0,0,0]]}', 422, "has 1 rows for 2 ids"),
    ("/api/decode", b'{"input_ids": [1], "flags": [[0, 1]]}', 422, "flags[0] must be 7 numbers"),
    ("/api/decode", b'{"input_ids": [1], "skip_special_tokens": "yes"}', 422, "true or false"),
    ("/api/decode", b'{"input_ids": [0, 10000000, -5, 2]}', 422,
     "input_ids[1]: 10000000 is not an id of the vocabulary (0 to 50264)"),
    ("/api/decode", b'{"input_ids": [-5]}', 422, "input_ids[0]: -5 is not an id of the vocabulary"),
    ("/api/decode", b'{"input_ids": [5], "flags": [[0, 0, 3, 0, 0, 0, 0]]}', 422,
     "flags[0][2]: 3 is not 0/1 or a probability in [0, 1]"),
    ("/api/decode", b'{"input_ids": [5], "flags": [[0, 0, 0, 0, 0, 0, NaN]]}', 422,
     "flags[0][6]: NaN is not 0/1 or a probability in [0, 1]"),
    ("/api/decode", b'{"input_ids": [5], "flags": [[0, 0, 0, 0, -1e-9, 0, 0]]}', 422,
     "flags[0][4]: -1e-09 is not 0/1 or a probability in [0, 1]"),
    ("/api/generate", b'{"prompt": "x"}', 404, "r2d pretrain --objective clm"),
])
def test_bad_requests_say_what_was_wrong(client, path, body, status, words):
    r = client.post(path, content=body)
    assert r.status_code == status and words in r.json()["error"], r.text


def test_routes_methods_and_hosts(client):
    assert client.get("/api/tokenize").status_code == 405
    r = client.post("/api/files", json={"path": "/etc/passwd"})
    assert r.status_code == 404 and "no such endpoint" in r.json()["error"]
    assert client.get("/static/../../serve/app.py").status_code == 404
    # DNS rebinding: a loopback server answers only to loopback host names
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"Host": "localhost:8000"}).status_code == 200


def test_size_limits_give_413(apps):
    with client_for(apps, max_text_bytes=1000) as c:
        assert c.post("/api/tokenize", json={"text": "é" * 500}).status_code == 200  # 1000 bytes
        r = c.post("/api/tokenize", json={"text": "é" * 500 + "x"})
        assert r.status_code == 413 and "1,001 bytes" in r.json()["error"] and "at most 1,000" in r.json()["error"]
        r = c.post("/api/tokenize", content=b'{"text": "' + b"x" * 100_000 + b'"}')
        assert r.status_code == 413 and "request body" in r.json()["error"]

        def chunked():  # no Content-Length: the limit is kept while reading
            yield b'{"text": "'
            for _ in range(100):
                yield b"x" * 1000
            yield b'"}'
        assert c.post("/api/tokenize", content=chunked()).status_code == 413
    with client_for(apps) as c:  # the default: 1 MB of text
        r = c.post("/api/tokenize", json={"text": "x" * 1_000_001})
        assert r.status_code == 413 and "at most 1,000,000" in r.json()["error"]


def test_page_and_assets_are_local_and_never_use_markup_apis(client):
    r = client.get("/")
    assert r.status_code == 200 and "/static/app.js" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    for name in ("index.html", "app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
        text = (STATIC / name).read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text  # works offline
    js = (STATIC / "app.js").read_text()
    for api in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert api not in js.replace("never innerHTML", "")


# ---------------------------------------------------------------------------------------------- generation
def generating_client(apps, gen, **kwargs):
    models = {"tiny-clm": LoadedModel(model="MODEL", tokenizer=apps["tokenizers"]["r2d-en"])}
    return client_for(apps, models=models, generate_fn=gen, **kwargs)


def test_generate_streams_one_event_per_word(apps):
    gen = FakeGenerator()
    with generating_client(apps, gen) as c:
        assert c.get("/api/info").json()["models"][0]["name"] == "tiny-clm"
        r = c.post("/api/generate", json={"prompt": "Hi", "max_new_tokens": 5, "temperature": 0.7, "top_p": 0.9,
                                          "top_k": 40, "seed": 3})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    ev = events(r.text)
    assert [e for e, _ in ev] == ["start", "word", "word", "word", "done"]
    assert [d for e, d in ev if e == "word"] == fake_words("Hi")
    assert ev[-1][1]["reason"] == "end" and ev[-1][1]["words"] == 3
    assert gen.calls == [dict(model="MODEL", prompt="Hi", max_new_tokens=5, temperature=0.7, top_k=40, top_p=0.9, seed=3)]
    assert gen.closed.is_set()


def test_generate_is_bounded_and_reports_failures(apps):
    with generating_client(apps, FakeGenerator(), max_new_tokens=2) as c:
        assert "between 1 and 2" in c.post("/api/generate", json={"prompt": "x", "max_new_tokens": 3}).json()["error"]
        ev = events(c.post("/api/generate", json={"prompt": "x", "max_new_tokens": 2}).text)
        assert [e for e, _ in ev] == ["start", "word", "word", "done"] and ev[-1][1]["reason"] == "max_new_tokens"
        for body, words in [({"prompt": "x", "temperature": -1}, "'temperature' must be >= 0"),
                            ({"prompt": "x", "top_p": 0}, "'top_p' must be in (0, 1]"),
                            ({"prompt": "x", "top_k": 0}, "'top_k' must be >= 1"),
                            ({"prompt": "x", "model": "other"}, "unknown model 'other'"),
                            ({"prompt": None}, "field 'prompt' must be a string")]:
            r = c.post("/api/generate", json=body)
            assert r.status_code == 422 and words in r.json()["error"]
    with generating_client(apps, FakeGenerator(fail=True)) as c:
        ev = events(c.post("/api/generate", json={"prompt": "x"}).text)
        assert [e for e, _ in ev] == ["start", "word", "error"] and "the model fell over" in ev[-1][1]["error"]
        assert c.post("/api/generate", json={"prompt": "x"}).status_code == 200  # the client's slot was freed


def test_one_generation_per_client_at_a_time(apps):
    gen = FakeGenerator(block=True)
    with generating_client(apps, gen) as c:
        first = {}
        t = threading.Thread(target=lambda: first.update(r=c.post("/api/generate", json={"prompt": "x"})))
        t.start()
        assert gen.started.wait(10)
        r = c.post("/api/generate", json={"prompt": "y"})
        assert r.status_code == 429 and "already running" in r.json()["error"]
        other = TestClient(c.app, base_url="http://127.0.0.1", client=("127.0.0.2", 50000))
        assert other.post("/api/generate", json={"prompt": "y"}).status_code == 200  # another client may run
        gen.release.set()
        t.join(10)
        assert [e for e, _ in events(first["r"].text)][-1] == "done"
        assert c.post("/api/generate", json={"prompt": "z"}).status_code == 200


def test_generations_are_capped_across_clients(apps):
    gen = FakeGenerator(block=True)
    with generating_client(apps, gen, max_generations=1) as c:
        t = threading.Thread(target=lambda: c.post("/api/generate", json={"prompt": "x"}))
        t.start()
        assert gen.started.wait(10)
        other = TestClient(c.app, base_url="http://127.0.0.1", client=("127.0.0.2", 50000))
        r = other.post("/api/generate", json={"prompt": "y"})
        assert r.status_code == 429 and "server is busy" in r.json()["error"]
        gen.release.set()
        t.join(10)


# ---------------------------------------------------------------------------------------------- a live server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving ``app`` in a thread on a free port of 127.0.0.1."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def test_generation_is_cancelled_when_the_client_goes_away(apps):
    import httpx

    gen = FakeGenerator(block=True)
    models = {"m": LoadedModel(model=None, tokenizer=apps["tokenizers"]["r2d-en"])}
    with LiveServer(create_app(**apps, models=models, generate_fn=gen)) as live:
        with httpx.stream("POST", live.url + "/api/generate", json={"prompt": "x"}, timeout=10) as r:
            for line in r.iter_lines():
                if line.startswith("event: word"):
                    break
        # the client is gone while the generator waits between words: the server closes it and frees the slot
        gen.release.set()
        assert gen.closed.wait(10)
        deadline = time.time() + 10
        while httpx.post(live.url + "/api/generate", json={"prompt": "x"}, timeout=10).status_code == 429:
            assert time.time() < deadline
            time.sleep(0.1)
        assert len(gen.calls) == 2


# ---------------------------------------------------------------------------------------------- the command
def test_serve_help_has_an_example(capsys):
    from r2d.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "example:\n  r2d serve" in out and "--model DIR" in out
    main(["--help"])
    assert "serve" in capsys.readouterr().out


def test_serve_command_loads_and_binds_loopback(monkeypatch, capsys, tmp_path):
    import uvicorn

    from r2d.cli import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    assert main(["serve", "--port", "8123"]) == 0
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)
    with TestClient(seen["app"], base_url="http://127.0.0.1") as c:
        assert [t["name"] for t in c.get("/api/info").json()["tokenizers"]] == ["r2d-en"]
        assert c.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert "http://127.0.0.1:8123/" in capsys.readouterr().out
    assert main(["serve", "--host", "0.0.0.0", "--max-text-bytes", "10"]) == 0
    assert "warning" in capsys.readouterr().out
    with TestClient(seen["app"], base_url="http://192.0.2.1") as c:  # any Host when bound to the network
        assert c.post("/api/tokenize", json={"text": "x" * 11}).status_code == 413


@pytest.mark.parametrize("argv, words", [
    (["--tokenizer", "no-such-tokenizer"], "--tokenizer no-such-tokenizer: no r2d tokenizer"),
    (["--model", "{tmp}/missing"], "--model {tmp}/missing: no such folder"),
    (["--model", "{tmp}"], "--model {tmp}: "),  # an empty folder: no model to load
    (["--port", "70000"], "must be between 0 and 65535"),
])
def test_serve_command_errors_are_one_line(monkeypatch, capsys, tmp_path, argv, words):
    import uvicorn

    from r2d.cli import main

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("must not serve"))
    assert main(["serve", *[a.format(tmp=tmp_path) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("r2d serve: error: ") and words.format(tmp=tmp_path) in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_serve_command_with_a_real_causal_model(monkeypatch, tmp_path, en_tok):
    causal = pytest.importorskip("r2d.modeling.causal")
    import torch
    import uvicorn

    from r2d.cli import main

    torch.manual_seed(0)
    config = causal.R2DCausalConfig(vocab_size=len(en_tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                    num_key_value_heads=4, intermediate_size=64, flag_names=list(en_tok.flag_names))
    causal.R2DForCausalLM(config).save_pretrained(tmp_path / "clm")
    en_tok.save_pretrained(tmp_path / "clm")
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app))
    assert main(["serve", "--model", str(tmp_path / "clm")]) == 0
    with TestClient(seen["app"], base_url="http://127.0.0.1") as c:
        assert c.get("/api/info").json()["models"][0]["name"] == str(tmp_path / "clm")
        body = {"prompt": "The park", "max_new_tokens": 6, "temperature": 0.8, "seed": 1}
        ev = events(c.post("/api/generate", json=body).text)
        again = events(c.post("/api/generate", json=body).text)
    words = [d for e, d in ev if e == "word"]
    assert ev[0][0] == "start" and ev[-1][0] == "done" and words
    assert sum(len(w["rows"]) for w in words) <= 6 and all(set(r) == {"root", "id", "flags"} for w in words for r in w["rows"])
    assert words == [d for e, d in again if e == "word"]  # same seed, same words


def _saved_causal_model(folder: Path, tok) -> Path:
    import torch

    from r2d.modeling.causal import R2DCausalConfig, R2DForCausalLM

    torch.manual_seed(0)
    config = R2DCausalConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=4, intermediate_size=64, flag_names=list(tok.flag_names))
    R2DForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_models_are_placed_on_the_device_asked_for(tmp_path, tiny_tok, capsys):
    import torch

    from r2d.cli import main
    from r2d.serve.models import ModelLoadError, load_model

    folder = _saved_causal_model(tmp_path / "clm", tiny_tok)
    loaded = load_model(str(folder), device="cpu")
    assert loaded.device == "cpu" and next(loaded.model.parameters()).device.type == "cpu"
    with TestClient(create_app(tokenizers={"t": tiny_tok}, models={"m": loaded}), base_url="http://127.0.0.1") as c:
        assert c.get("/api/info").json()["models"][0]["device"] == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="cannot place the model on cuda"):
            load_model(str(folder), device="cuda")
        assert main(["serve", "--model", str(folder), "--device", "cuda"]) == 2
        assert "--model" in capsys.readouterr().err


@pytest.mark.cuda
def test_the_playground_generates_on_the_gpu(tmp_path, tiny_tok):
    from r2d.modeling.generation import stream_generate
    from r2d.serve.models import load_model

    loaded = load_model(str(_saved_causal_model(tmp_path / "clm", tiny_tok)))  # auto: the GPU
    assert loaded.device.startswith("cuda")
    body = {"prompt": "The park", "max_new_tokens": 12, "temperature": 0.8, "seed": 1}
    with TestClient(create_app(tokenizers={"t": tiny_tok}, models={"m": loaded}), base_url="http://127.0.0.1") as c:
        assert c.get("/api/info").json()["models"][0]["device"].startswith("cuda")
        ev = events(c.post("/api/generate", json=body).text)
    words = [d for e, d in ev if e == "word"]
    assert ev[-1][0] == "done" and words
    direct = list(stream_generate(loaded.model, loaded.tokenizer, "The park", max_new_tokens=12, temperature=0.8,
                                  top_k=None, top_p=None, seed=1))
    assert words == direct  # the worker threads change nothing: same seed, same device, same words


# ---------------------------------------------------------------------------------------------- in a browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no chromium/chromedriver on PATH (apt-get install -y chromium chromium-driver)")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000")


def start_browser(profile_dir: str):
    """Headless Chromium through Debian's chromedriver, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def browser():
    with tempfile.TemporaryDirectory() as profile:
        driver = start_browser(profile)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def live(apps):
    models = {"fake-clm": LoadedModel(model=None, tokenizer=apps["tokenizers"]["r2d-en"])}
    with LiveServer(create_app(**apps)) as plain, LiveServer(create_app(**apps, models=models,
                                                                        generate_fn=FakeGenerator())) as gen:
        yield plain, gen


def wait_for(driver, script: str, timeout: float = 20.0):
    deadline = time.time() + timeout
    while True:
        value = driver.execute_script(script)
        if value:
            return value
        assert time.time() < deadline, f"timed out waiting for: {script}"
        time.sleep(0.05)


def shown_words(driver) -> list[dict]:
    return driver.execute_script("""
        return [...document.querySelectorAll('#r2d-view .word')].map((w) => ({
          root: w.dataset.root, ids: w.dataset.ids.split(' ').map(Number), title: w.title,
          flags: [...w.querySelectorAll('.flag')].map((b) => b.dataset.flag)}));""")


def api_words(url: str, text: str, tokenizer: str = "r2d-en") -> list[dict]:
    import httpx

    doc = httpx.post(url + "/api/tokenize", json={"text": text, "tokenizer": tokenizer}, timeout=30).json()
    return [{"root": w["root"], "ids": w["ids"], "flags": [f for f, v in w["flags"].items() if v]}
            for w in doc["words"]], doc


def open_page(driver, url: str, **params) -> None:
    driver.get(url + "/?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote))
    wait_for(driver, "return document.body.dataset.painted")


def browser_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@needs_browser
def test_page_shows_the_apis_rows(browser, live, tmp_path):
    url = live[0].url
    text = "The DOGS were running past iPhone stores; NASA's parks enjoyed it.\nA new line."
    open_page(browser, url, text=text, tokenizer="r2d-en")
    want, doc = api_words(url, text)
    shown = shown_words(browser)
    assert [{k: w[k] for k in ("root", "ids", "flags")} for w in shown] == want
    running = next(w for w in shown if w["root"] == "run")
    assert running["title"].startswith('text: " running"') and "Suffix_ing" in running["title"]
    assert "ids: " in running["title"]
    roberta = browser.execute_script("return [...document.querySelectorAll('#roberta-view .tok')].map((t) => +t.dataset.id)")
    assert roberta == [t["id"] for t in doc["roberta"]]
    assert browser.find_element("id", "c-rows").text == str(doc["counts"]["rows"])
    assert "exact" in browser.find_element("id", "c-roundtrip").text
    query = urllib.parse.parse_qs(urllib.parse.urlparse(browser.current_url).query)
    assert query == {"text": [text], "tokenizer": ["r2d-en"]}
    assert "r2d pretrain --objective clm" in browser.find_element("id", "gen-hint").text
    assert browser_errors(browser) == []
    shot = tmp_path / "playground.png"
    browser.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    if os.environ.get("R2D_PLAYGROUND_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["R2D_PLAYGROUND_SCREENSHOT"])


@needs_browser
def test_view_follows_typing_and_tokenizer_choice(browser, live):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    url = live[0].url
    open_page(browser, url, text="x")
    box = browser.find_element("id", "text")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys("Cats ran home.")
    wait_for(browser, "return window.r2dPlayground.renderedText === 'Cats ran home.' && document.body.dataset.state === 'ready'")
    assert [{k: w[k] for k in ("root", "ids", "flags")} for w in shown_words(browser)] == api_words(url, "Cats ran home.")[0]
    assert "text=Cats%20ran%20home." in browser.current_url or "text=Cats+ran+home." in browser.current_url
    Select(browser.find_element("id", "tokenizer")).select_by_visible_text("tiny")
    wait_for(browser, "return window.r2dPlayground.data.tokenizer === 'tiny'")
    assert [{k: w[k] for k in ("root", "ids", "flags")} for w in shown_words(browser)] == api_words(
        url, "Cats ran home.", "tiny")[0]
    assert "tokenizer=tiny" in browser.current_url


@needs_browser
def test_long_text_draws_what_is_visible_and_leaves_the_address(browser, live):
    open_page(browser, live[0].url, text="x")
    text = "中文 字 " * 1500  # 3,000 words, 9 bytes of address each
    browser.execute_script("const t = document.getElementById('text'); t.value = arguments[0];"
                           "t.dispatchEvent(new Event('input'));", text)
    wait_for(browser, "return window.r2dPlayground.renderedText === arguments[0] && document.body.dataset.state === 'ready'"
             .replace("arguments[0]", json.dumps(text)))
    assert "text=" not in browser.current_url and "too long" in browser.find_element("id", "status").text
    count = "return document.querySelectorAll('#r2d-view .word').length"
    assert browser.execute_script(count) == 400 and browser.find_element("css selector", "#r2d-view .more").is_displayed()
    browser.execute_script("const v = document.getElementById('r2d-view'); v.scrollTop = v.scrollHeight;")
    wait_for(browser, count + " > 400")


@needs_browser
def test_markup_in_the_input_renders_inert(browser, live):
    url = live[0].url
    text = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> <b>bold</b>'
    open_page(browser, url, text=text)
    assert browser.execute_script("return window.pwned") is None
    assert browser.execute_script("return document.querySelectorAll('main img, main script, main b').length") == 0
    shown = shown_words(browser)
    assert [{k: w[k] for k in ("root", "ids", "flags")} for w in shown] == api_words(url, text)[0]
    assert "".join(w["root"] for w in shown[:3]) == "<script>"
    shown_text = browser.execute_script("return document.getElementById('roberta-view').textContent")
    assert shown_text == text.replace(" ", "·")
    # the raw view and the decode round trip go through the page's own API too
    browser.find_element("css selector", "#raw-panel summary").click()
    wait_for(browser, "return document.getElementById('raw').value.includes('input_ids')")
    browser.find_element("id", "decode-raw").click()
    wait_for(browser, "return document.getElementById('decoded').textContent.length > 0")
    assert browser.find_element("id", "decoded").text == text
    assert browser.execute_script("return window.pwned") is None and browser_errors(browser) == []


@needs_browser
def test_generation_panel_streams_words(browser, live):
    url = live[1].url
    open_page(browser, url, text="x")
    browser.find_element("id", "prompt").send_keys("Hello")
    browser.find_element("id", "gen-start").click()
    wait_for(browser, "return document.getElementById('gen-status').textContent.startsWith('done')")
    assert browser.find_element("id", "gen-text").text == "Hello Dogs <b>barked</b>."
    rows = browser.execute_script("""return [...document.querySelectorAll('#gen-rows .word')].map((w) => [
        w.dataset.root, +w.dataset.ids, [...w.querySelectorAll('.flag')].map((b) => b.dataset.flag)])""")
    assert rows == [["dog", 1983, ["FirstCap", "Suffix_s"]], ["<b>bark", 7, ["Suffix_ed"]], ["</b>", 8, []],
                    [".", 362, ["NoSpace"]]]
    assert browser.execute_script("return document.querySelectorAll('#gen-text b').length") == 0
    assert browser_errors(browser) == []


@needs_browser
def test_stop_cancels_the_generation(browser, apps):
    gen = FakeGenerator(block=True)
    models = {"fake-clm": LoadedModel(model=None, tokenizer=apps["tokenizers"]["r2d-en"])}
    with LiveServer(create_app(**apps, models=models, generate_fn=gen)) as live:
        open_page(browser, live.url, text="x")
        browser.find_element("id", "gen-start").click()
        wait_for(browser, "return document.getElementById('gen-status').textContent === '1 word…'")
        browser.find_element("id", "gen-stop").click()
        wait_for(browser, "return document.getElementById('gen-status').textContent === 'stopped after 1 word'")
        gen.release.set()
        assert gen.closed.wait(10)
        assert browser.find_element("id", "gen-start").is_enabled()
