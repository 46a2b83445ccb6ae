"""Benchmark: peak memory of ``r2d pretrain`` against corpus size, and corpus preparation with 2 workers vs 1.

What it measures (issue 20; goals: 6 shards <= 1.15x the 1-shard peak, 2 workers >= 1.6x one):

* **memory**: ``r2d pretrain`` (tokenizing the corpus into ``OUT/data/shards`` + a few steps + the final evaluation)
  on the first 1, 3 and 6 Wikipedia files of ``../shared/data/wikipedia_en``, each in a fresh subprocess. The peak is
  sampled every 20 ms with psutil: the resident memory of the whole process tree (the command and its tokenizer
  worker processes, summed) and of the command alone; memory-mapped shard pages it has touched count as resident;
* **throughput**: ``r2d prepare-corpus`` of the first 3 files with ``--workers 1`` and ``--workers 2`` (worker
  processes; the main process reads the files and writes the shards): MB of UTF-8 text per second of preparation,
  from the shard manifest (the workers' start is in it; loading the tokenizer and starting the interpreter are
  not), best of ``--repeats``.

Run (a quiet machine; a few minutes): ``python benchmarks/bench_pretrain_memory.py``. ``--smoke`` checks the script on
a tiny generated corpus in seconds (its figures mean nothing). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIKI = ROOT.parent / "shared" / "data" / "wikipedia_en"


def peak_rss(cmd: list[str], interval: float = 0.02) -> tuple[float, float, float, int]:
    """Run ``cmd``; returns (peak MB of the process tree, peak MB of the process alone, seconds, exit status)."""
    import psutil

    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tree = alone = 0
    while proc.poll() is None:
        try:
            mine = proc.memory_info().rss
            total = mine
            for child in proc.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            break
        tree, alone = max(tree, total), max(alone, mine)
        time.sleep(interval)
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        print(err[-2000:], file=sys.stderr)
    return tree / 2**20, alone / 2**20, time.perf_counter() - t0, proc.returncode


def smoke_corpus(folder: Path, n_files: int = 6) -> list[Path]:
    """Tiny WikiExtractor-like gzip files (a few hundred KB of text each)."""
    words = ("the park parks ride riding rides enjoyed Australia's in of and a I NASA It's walked walking "
             "community communities house houses The Dogs dog run ran").split()
    rng = random.Random(0)
    files = []
    for i in range(n_files):
        p = folder / f"smoke_{i}.txt.gz"
        with gzip.open(p, "wt", encoding="utf-8") as f:
            for d in range(40):
                f.write(f'<doc id="{i}-{d}" url="x" title="T">\nT\n\n')
                for _ in range(rng.randint(3, 30)):
                    f.write(" ".join(rng.choice(words) for _ in range(rng.randint(5, 40))) + ".\n")
                f.write("</doc>\n")
        files.append(p)
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shards", type=int, nargs="+", default=[1, 3, 6], help="corpus sizes, in Wikipedia files")
    ap.add_argument("--objective", choices=["mlm", "clm"], default="clm")
    ap.add_argument("--model", default="r2d", help="r2d, roberta (mlm) or bpe (clm)")
    ap.add_argument("--preset", default="mini")
    ap.add_argument("--steps", type=int, default=5, help="training steps after the preparation")
    ap.add_argument("--prepare-workers", type=int, default=2,
                    help="r2d pretrain --prepare-workers in the memory runs")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts of the throughput runs")
    ap.add_argument("--repeats", type=int, default=2, help="throughput: best of this many runs")
    ap.add_argument("--throughput-files", type=int, default=3, help="throughput: corpus size, in Wikipedia files")
    ap.add_argument("--data-dir", type=Path, default=WIKI, help="the Wikipedia files (SOURCE.md there)")
    ap.add_argument("--smoke", action="store_true",
                    help="a tiny generated corpus and the tiny preset: checks the script")
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-pretrain-memory-"))
    try:
        if a.smoke:
            files = smoke_corpus(work)
            a.preset, a.steps, a.repeats = "tiny", 2, 1
        else:
            files = sorted(a.data_dir.glob("enwiki_*.txt.gz"))
            if len(files) < max(*a.shards, a.throughput_files):
                print(f"need {max(*a.shards, a.throughput_files)} files in {a.data_dir}, found {len(files)}",
                      file=sys.stderr)
                return 2
        r2d = [sys.executable, "-m", "r2d.cli"]
        rows = []
        for n in a.shards:
            corpus = [str(f) for f in files[:n]]
            text_mb = sum(len(gzip.open(f).read()) for f in files[:n]) / 1e6
            out = work / f"run-{n}"
            cmd = [*r2d, "pretrain", "--objective", a.objective, "--model", a.model, "--preset", a.preset, "--pack",
                   "--corpus", *corpus, "--out", str(out), "--max-steps", str(a.steps), "--eval-steps", str(a.steps),
                   "--save-steps", str(10 * a.steps), "--eval-size", "32", "--no-progress",
                   "--prepare-workers", str(a.prepare_workers)]
            tree, alone, seconds, rc = peak_rss(cmd)
            if rc:
                print(f"r2d pretrain failed on {n} file(s) (exit {rc})", file=sys.stderr)
                return 1
            meta = json.loads((out / "data" / "meta.json").read_text())
            rows.append((n, text_mb, meta["train_rows"], tree, alone, seconds))
            shutil.rmtree(out, ignore_errors=True)
        base = rows[0][3]
        print(f"### Peak memory of `r2d pretrain --objective {a.objective} --model {a.model} --preset {a.preset} "
              f"--pack --max-steps {a.steps} --prepare-workers {a.prepare_workers}`\n")
        print("| files | text (MB) | train rows | peak, process tree (MB) | x first | peak, main process (MB) | "
              "wall (s) |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for n, mb, train_rows, tree, alone, seconds in rows:
            print(f"| {n} | {mb:.1f} | {train_rows:,} | {tree:,.0f} | {tree / base:.2f} | {alone:,.0f} "
                  f"| {seconds:.0f} |")

        speeds = {}
        for w in a.workers:
            best = 0.0
            for rep in range(a.repeats):
                out = work / f"prep-{w}-{rep}"
                cmd = [*r2d, "prepare-corpus", "--model", a.model, "--corpus", *map(str, files[:a.throughput_files]),
                       "--out", str(out), "--workers", str(w), "--no-progress"]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                m = json.loads((out / "manifest.json").read_text())
                best = max(best, m["text_bytes"] / 1e6 / max(m["seconds"], 1e-9))
                shutil.rmtree(out, ignore_errors=True)
            speeds[w] = best
        print(f"\n### Preparation of {a.throughput_files} file(s) (`r2d prepare-corpus --model {a.model}`), "
              f"best of {a.repeats}\n")
        print("| workers | MB of text / s | x first |")
        print("|---:|---:|---:|")
        first = speeds[a.workers[0]]
        for w, s in speeds.items():
            print(f"| {w} | {s:.2f} | {s / first:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
