"""How long the playground takes to show a long text, measured in a real headless Chromium.

Starts ``r2d serve`` in a subprocess, opens the page in Debian's chromium (through chromedriver and selenium),
then for texts of N words (Wikipedia lines, a different slice every round) puts the text in the text box, fires
the ``input`` event the page listens to, and waits, inside the page, until the view has been drawn. Prints the
median over rounds of: the server's own work (``tokenize_view`` + JSON, timed in this process on the same
texts, not concurrently), the page's request (server + transfer + JSON parse), its DOM rendering, and the
time from the input event until the frame with the new view was painted (which includes the page's 120 ms
typing debounce). The page draws the first 400 words at once and the rest as they are scrolled into view.

    python benchmarks/bench_serve.py --words 1000 10000 50000 --rounds 5
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared/data/wikipedia_en/enwiki_AA_wiki_00-19.txt.gz"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000")

MEASURE = """
const [text, done] = [arguments[0], arguments[arguments.length - 1]];
const box = document.getElementById('text');
const seq = window.r2dPlayground.seq;
box.value = text;
box.dispatchEvent(new Event('input'));
const check = () => {
  if (Number(document.body.dataset.painted || 0) > seq) {
    const p = window.r2dPlayground;
    done({...p.timings, chips: document.querySelectorAll('#r2d-view .word').length, words: p.data.words.length,
          rows: p.data.counts.rows, roberta: p.data.counts.roberta_tokens, bytes: p.data.counts.bytes});
  } else setTimeout(check, 2);
};
check();
"""


def texts_of(path: Path, n_words: int, rounds: int) -> list[str]:
    """``rounds`` texts of ``n_words`` whitespace-separated words each, from consecutive Wikipedia lines."""
    out, words, lines = [], 0, []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for ln in f:
            if not ln.strip() or ln.startswith(("<doc", "</doc")):
                continue
            parts = ln.split()
            if words + len(parts) > n_words:
                lines.append(" ".join(parts[:n_words - words]))
                out.append("".join(lines))
                if len(out) == rounds:
                    return out
                lines, words = [], 0
                continue
            lines.append(ln)
            words += len(parts)
    raise SystemExit(f"{path}: not enough text for {rounds} texts of {n_words} words")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    code = f"from r2d.cli import main; main(['serve', '--port', '{port}', '--log-level', 'warning'])"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=2).read()
            return proc
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("r2d serve did not start")
            time.sleep(0.2)


def browser(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_script_timeout(120)
    return driver


def server_ms(texts: list[str]) -> list[float]:
    """The server's work alone: tokenize_view + JSON encoding, on a fresh tokenizer (cold cache, like the server)."""
    from r2d import R2DTokenizer
    from r2d.serve.views import roberta_baseline, tokenize_view

    tok = R2DTokenizer.from_pretrained("r2d-en")
    roberta_baseline()
    out = []
    for text in texts:
        t0 = time.perf_counter()
        json.dumps(tokenize_view(tok, text, name="r2d-en"), ensure_ascii=False)
        out.append(1000 * (time.perf_counter() - t0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--words", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        raise SystemExit("needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)")

    port = free_port()
    server = start_server(port)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as profile:
            driver = browser(profile)
            try:
                driver.get(f"http://127.0.0.1:{port}/?text=warm+up")
                for n in args.words:
                    texts = texts_of(args.corpus, n, args.rounds)
                    runs = [driver.execute_async_script(MEASURE, t) for t in texts]
                    rows.append((n, runs, server_ms(texts)))
            finally:
                driver.quit()
    finally:
        server.terminate()
        server.wait(10)

    med = lambda xs: statistics.median(xs)  # noqa: E731
    print(f"median of {args.rounds} rounds (a different text each round); times in ms\n")
    print("| words | bytes | r2d rows | RoBERTa tokens | server: tokenize + JSON | page: request | page: render "
          "| input -> view painted (incl. 120 ms debounce) | max | words drawn at first |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, runs, srv in rows:
        shown = [r["since_input_ms"] for r in runs]
        print(f"| {n:,} | {med([r['bytes'] for r in runs]):,.0f} | {med([r['rows'] for r in runs]):,.0f} "
              f"| {med([r['roberta'] for r in runs]):,.0f} | {med(srv):.0f} | {med([r['request_ms'] for r in runs]):.0f} "
              f"| {med([r['render_ms'] for r in runs]):.0f} | **{med(shown):.0f}** | {max(shown):.0f} "
              f"| {runs[0]['chips']:,} of {med([r['words'] for r in runs]):,.0f} |")


if __name__ == "__main__":
    main()
