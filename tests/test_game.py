"""Tests for r2d.game: the pure state machine (state), word sources (words), scores and whole sessions in a
pseudo-terminal (ui)."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from r2d.lists.deconstruct import DeconstructionList, Entry, check_file, read_entries
from r2d.game.state import GameState, WordQueue, best_hour, rate_per_hour, step
from r2d.cli.game import main
from r2d.game.ui import read_scores
from r2d.game.words import SourceError, load_words
from r2d.io import InputError

WORDS = [("communities", 50), ("housing", 40), ("quick", 30), ("planned", 20), ("unbeatable", 10), ("news", 5)]


def fake_guesser(word: str, taken) -> list[Entry]:
    table = {"communities": [Entry("communities", "community", (), ("~s",)),
                             Entry("communities", "communite", (), ("~s",)),   # invalid: never offered
                             Entry("communities", "munity", ("com~",), ("~s",))],
             "housing": [Entry("housing", "house", (), ("~ing",))],
             "planned": [Entry("planned", "plan", (), ("~ed",))]}
    return [e for e in table.get(word, []) if not taken(e.root, frozenset(e.affixes))]


def new_state(words=None, entries=None, deadline=None) -> GameState:
    ws = [w for w, _ in WORDS] if words is None else words
    return GameState(WordQueue(ws), dict(entries or {}), fake_guesser, started=0.0, deadline=deadline)


# ---------------------------------------------------------------------------------------------------- step

def test_letter_typed_and_empty_answers():
    s = new_state()
    assert s.word == "communities" and [e.deconstruction for e in s.offers] == ["community ~s", "com~munity ~s"]
    out = step(s, "a", now=1.0)
    assert out.kind == "decided" and out.save and s.entries["communities"].deconstruction == "community ~s"
    assert step(s, "  house ~ing ", now=2.0).entry == Entry("housing", "house", (), ("~ing",))
    assert step(s, "", now=3.0).entry == Entry("quick")
    assert s.word == "planned" and s.decided == 3


def test_invalid_answers_say_why_and_change_nothing():
    s = new_state()
    out = step(s, "c", now=1.0)
    assert out.kind == "invalid" and "no guess 'c'" in out.message and not out.save
    out = step(s, "comunity ~s", now=1.0)
    assert out.kind == "invalid" and "does not spell 'communities' back" in out.message
    out = step(s, "community ~S", now=1.0)
    assert out.kind == "invalid" and "malformed affix" in out.message
    out = step(s, "community", now=1.0)
    assert out.kind == "invalid" and "no affix" in out.message
    assert s.entries == {} and s.word == "communities" and s.decided == 0


def test_a_root_plus_affixes_names_one_word():
    s = new_state(words=["planned", "planed"])
    step(s, "a", now=1.0)
    out = step(s, "plan ~ed", now=2.0)
    assert out.kind == "invalid" and "already names 'planned'" in out.message


def test_undo_restores_word_list_and_rate():
    s = new_state()
    step(s, "a", now=1.0)
    step(s, "", now=2.0)
    out = step(s, "u", now=3.0)
    assert out.kind == "undone" and out.save and "housing" not in s.entries and s.word == "housing"
    assert s.decided == 1 and [e.deconstruction for e in s.offers] == ["house ~ing"]
    step(s, "u", now=4.0)
    assert s.entries == {} and s.word == "communities"
    assert step(s, "u", now=5.0).kind == "nothing"


def test_skip_requeues_and_undo_of_skip():
    s = new_state()
    assert step(s, "s", now=1.0).kind == "skipped" and s.word == "housing"
    for _ in range(5):
        step(s, "", now=2.0)
    assert s.word == "communities"  # the skipped word comes back at the end
    step(s, "a", now=3.0)
    assert s.done and s.word is None
    s2 = new_state()
    step(s2, "s", now=1.0)
    assert step(s2, "u", now=1.5).kind == "undone" and s2.word == "communities" and s2.skipped == 0


def test_resume_skips_decided_words_and_taken_guesses():
    s = new_state(entries={"communities": Entry("communities", "community", (), ("~s",)), "quick": Entry("quick")})
    assert s.word == "housing"
    step(s, "", now=1.0)
    assert s.word == "planned"
    s2 = new_state(words=["communes", "communities"],
                   entries={"communes": Entry("communes", "community", (), ("~s",))})
    assert [e.deconstruction for e in s2.offers] == ["com~munity ~s"]  # community ~s names communes already


def test_help_quit_and_deadline():
    s = new_state(deadline=10.0)
    assert "keep the word whole" in step(s, "?", now=1.0).message
    step(s, "a", now=11.0)
    assert s.done
    s = new_state()
    assert step(s, "q", now=1.0).kind == "quit" and s.done


def test_best_hour_and_rate():
    assert best_hour([]) == 0
    assert best_hour([0, 10, 3599, 3600, 3605, 10000]) == 4
    assert rate_per_hour(10, 1800) == 20 and rate_per_hour(1, 1) == 60


# ---------------------------------------------------------------------------------------------------- sources

def write_words(path: Path, rows) -> Path:
    path.write_text("".join(f"{w}\t{c}\n" for w, c in rows), encoding="utf-8")
    return path


def test_word_list_sorted_by_count_and_normalised(tmp_path):
    p = write_words(tmp_path / "w.tsv", [("Rare", 1), ("the", 100), ("x1", 50), ("dog", 10), ("THE", 5)])
    words, lang = load_words(str(p))
    assert list(words) == ["the", "dog", "rare"] and lang == "en"
    p.write_text("walk\n# c\nrun\n", encoding="utf-8")
    assert list(load_words(str(p))[0]) == ["walk", "run"]


def test_bad_sources(tmp_path):
    p = tmp_path / "w.tsv"
    p.write_text("walk\tmany\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"w.tsv:1: field 'count': 'many' for 'walk' is not a number"):
        load_words(str(p))
    with pytest.raises(SourceError, match="no such file"):
        load_words(str(tmp_path / "missing.txt"))
    with pytest.raises(SourceError, match="no language"):
        load_words("wordfreq:xx")


def test_corpus_is_counted(tmp_path):
    text = "The dog saw the dogs. The end, the END!\n<doc id=1>\nDogs run.\n"
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "c.txt.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    for name in ("c.txt", "c.txt.gz"):
        words, _ = load_words(str(tmp_path / name), progress=False)
        words = list(words)
        assert words[:3] == ["the", "dogs", "end"] and set(words) == {"the", "dog", "saw", "dogs", "end", "run"}


def test_wordfreq_source_is_lazy_and_frequency_ordered():
    words, lang = load_words("wordfreq:en")
    q = WordQueue(words)
    assert q.get(0) == "the" and lang == "en"


def test_scores_file_tolerates_garbage(tmp_path):
    p = tmp_path / "l.tsv.game.json"
    p.write_text("{not json", encoding="utf-8")
    assert read_scores(p)["decisions"] == []


def test_main_refuses_bad_input(tmp_path, capsys):
    words = write_words(tmp_path / "w.tsv", WORDS)
    bad = tmp_path / "bad.tsv"
    bad.write_text("planned\tplan ~ing\n", encoding="utf-8")
    assert main(["--words", str(words), "--list", str(bad)]) == 2
    assert "bad.tsv:1:" in capsys.readouterr().err
    assert main(["--words", str(words), "--list", str(tmp_path / "l.tsv"), "--minutes", "0"]) == 2
    assert main(["--words", str(tmp_path / "nope.tsv"), "--list", str(tmp_path / "l.tsv")]) == 2
    assert "no such file" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- terminal

CLI = "import sys; from r2d.cli import main; sys.exit(main(sys.argv[1:]))"


def spawn(tmp_path: Path, *extra: str, color: bool = False, before: str = "", env: dict | None = None,
          sigint=signal.SIG_DFL) -> pexpect.spawn:
    """``r2d game`` in a pseudo-terminal; ``before``: Python run first in the game's process (a test hook).

    The game starts with ``sigint`` as its SIGINT action, not the one pytest has: a pytest started as a
    background job of a script has SIGINT ignored, and its children inherit that.
    """
    env = {**os.environ, **(env or {})}
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    env.update({"TERM": "xterm-256color", "COLUMNS": "200"} if color else {"NO_COLOR": "1", "TERM": "dumb"})
    args = ["-c", before + CLI, "game", "--words", str(tmp_path / "w.tsv"), "--list", str(tmp_path / "l.tsv"),
            *extra]
    return pexpect.spawn(sys.executable, args, env=env, encoding="utf-8", timeout=30, dimensions=(40, 200),
                         preexec_fn=lambda: signal.signal(signal.SIGINT, sigint))


def test_terminal_session_answers_undo_kill9_and_resume(tmp_path):
    write_words(tmp_path / "w.tsv", WORDS)
    child = spawn(tmp_path)
    child.expect_exact("0 words decided so far")
    child.expect_exact("[communities] (a: community ~s)>? ")
    child.sendline("a")
    child.expect_exact("[housing] (a: house ~ing)>? ")
    child.sendline("")                      # wrong: keep whole ...
    child.expect_exact("[quick]>? ")
    child.sendline("u")                     # ... undone
    child.expect_exact("undid 'housing' (keep whole)")
    child.expect_exact("[housing] (a: house ~ing)>? ")
    child.sendline("house ~ed")             # refused on the spot, with the reason
    child.expect_exact("does not spell 'housing' back")
    child.expect_exact("[housing] (a: house ~ing)>? ")
    child.sendline("house ~ing")
    child.expect_exact("[quick]>? ")
    child.sendline("")
    child.expect_exact("[planned] (a: plan ~ed)>? ")
    child.sendline("?")
    child.expect_exact("skip for now")
    child.sendline("a")
    child.expect_exact("words/hour")
    child.expect_exact("[unbeatable] (a: un~beat ~able)>? ")
    child.kill(signal.SIGKILL)              # answered words must all be on disk, the file intact
    child.wait()
    assert check_file(tmp_path / "l.tsv") == []
    got = [(e.word, e.deconstruction) for e in read_entries(tmp_path / "l.tsv")]
    assert got == [("communities", "community ~s"), ("housing", "house ~ing"), ("quick", ""),
                   ("planned", "plan ~ed")]
    assert json.loads((tmp_path / "l.tsv.game.json").read_text())["best_hour"] == 4

    child = spawn(tmp_path)                 # resume where the first session stopped
    child.expect_exact("4 words decided so far (3 split)")
    child.expect_exact("best hour 4")
    child.expect_exact("[unbeatable] (a: un~beat ~able)>? ")
    child.sendline("s")
    child.expect_exact("skipped 'unbeatable' for now")
    child.expect_exact("[news]>? ")
    child.sendline("")
    child.expect_exact("[unbeatable] (a: un~beat ~able)>? ")
    child.sendline("un~beat ~able")
    child.expect_exact("session over: 2 words decided (1 split, 1 kept whole), 1 skipped")
    child.expect_exact("no more words")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    from r2d.cli import main as cli

    assert cli(["list", "check", str(tmp_path / "l.tsv")]) == 0  # the game's own files always pass check
    lst = DeconstructionList.read(tmp_path / "l.tsv")
    assert len(lst) == 6 and lst.get("unbeatable").deconstruction == "un~beat ~able"
    assert len(json.loads((tmp_path / "l.tsv.game.json").read_text())["sessions"]) == 2


def test_terminal_ctrl_c_quits_with_summary_and_colour(tmp_path):
    write_words(tmp_path / "w.tsv", WORDS)
    child = spawn(tmp_path, "--minutes", "30", color=True)
    child.expect(r"\d+:\d\d left")
    child.expect_exact("community ~s")
    assert "\x1b[" in child.before + child.after  # rich colours a real terminal
    child.expect_exact(">? ")
    child.sendline("a")
    child.expect_exact(">? ")
    child.sendintr()
    child.expect_exact("session over: 1 words decided")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert [e.word for e in read_entries(tmp_path / "l.tsv")] == ["communities"]


# A Ctrl-C quits with the summary whenever it comes. Each test below makes one moment last long
# enough to hit it every time; without that, the moments are microseconds wide and a loaded machine hits
# them now and then (the flaky failure: no summary, the game still waiting for a key 30 s later).

def quits_with_summary(child: pexpect.spawn, decided: int, timeout: float = 10) -> None:
    child.expect_exact(f"session over: {decided} words decided", timeout=timeout)
    child.expect(pexpect.EOF, timeout=timeout)
    child.close()
    assert child.exitstatus == 0


def test_terminal_ctrl_c_works_also_when_started_with_ctrl_c_ignored(tmp_path):
    write_words(tmp_path / "w.tsv", WORDS)
    child = spawn(tmp_path, sigint=signal.SIG_IGN)   # Python would then leave SIGINT ignored
    child.expect_exact("[communities] (a: community ~s)>? ")
    child.sendintr()
    quits_with_summary(child, 0)


# A bystander thread that takes a Ctrl-C itself once a file appears: CPython notes the signal but the main
# thread, blocked reading the answer, is not woken. The same happens when a Ctrl-C lands on one of numpy's
# BLAS threads, or on the main thread after input() made its last signal check but before readline's select().
BYSTANDER = ("import os, signal, threading, time\n"
             "def _bystander(trigger):\n"
             "    while not os.path.exists(trigger):\n"
             "        time.sleep(0.01)\n"
             "    signal.pthread_kill(threading.get_ident(), signal.SIGINT)\n"
             "threading.Thread(target=_bystander, args=(os.environ['R2D_TEST_TRIGGER'],), daemon=True).start()\n")


def test_terminal_ctrl_c_that_does_not_wake_the_prompt_still_quits(tmp_path):
    write_words(tmp_path / "w.tsv", WORDS)
    child = spawn(tmp_path, before=BYSTANDER, env={"R2D_TEST_TRIGGER": str(tmp_path / "ctrl-c")})
    child.expect_exact("[communities] (a: community ~s)>? ")
    child.sendline("a")
    child.expect_exact("[housing] (a: house ~ing)>? ")
    (tmp_path / "ctrl-c").touch()
    quits_with_summary(child, 1)
    assert [e.word for e in read_entries(tmp_path / "l.tsv")] == ["communities"]


# readline prepares the terminal (tcsetattr) after input()'s last signal check and before it waits in
# select(); this makes that step take 0.3 s, as it may on an overloaded machine.
SLOW_TCSETATTR = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <termios.h>
#include <time.h>
int tcsetattr(int fd, int action, const struct termios *t) {
    int (*real)(int, int, const struct termios *) = dlsym(RTLD_NEXT, "tcsetattr");
    struct timespec left = {0, 300000000L};
    while (nanosleep(&left, &left) == -1 && errno == EINTR) {}
    return real(fd, action, t);
}
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("cc") is None,
                    reason="needs LD_PRELOAD (Linux) and a C compiler")
def test_terminal_ctrl_c_while_readline_prepares_the_terminal_still_quits(tmp_path):
    (tmp_path / "slow.c").write_text(SLOW_TCSETATTR, encoding="utf-8")
    lib = tmp_path / "slow.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "slow.c"), "-ldl"], check=True)
    write_words(tmp_path / "w.tsv", WORDS)
    child = spawn(tmp_path, env={"LD_PRELOAD": str(lib)})
    child.expect_exact("[communities] (a: community ~s)>? ")   # shown just before input(): readline is busy
    child.sendintr()
    quits_with_summary(child, 0)


def slowed(module: str, name: str, label: str, seconds: float) -> str:
    """Python for spawn(before=...): ``module.name`` announces itself on stderr as ``(label)``, then waits."""
    return (f"import sys, time\nimport {module} as _m\n_real = _m.{name}\n"
            f"def _slow(*args, **kwargs):\n"
            f"    print('({label})', file=sys.stderr, flush=True)\n"
            f"    time.sleep({seconds})\n"
            f"    return _real(*args, **kwargs)\n"
            f"_m.{name} = _slow\n")


# Every save announces itself on stderr and takes a second.
SLOW_SAVES = slowed("os", "fsync", "saving", 1)


def test_terminal_ctrl_c_during_a_save_finishes_the_save_then_quits(tmp_path):
    write_words(tmp_path / "w.tsv", WORDS)
    child = spawn(tmp_path, before=SLOW_SAVES)
    child.expect_exact("[communities] (a: community ~s)>? ")
    child.sendline("a")
    child.expect_exact("(saving)")          # the list is being written
    child.sendintr()
    quits_with_summary(child, 1)
    assert check_file(tmp_path / "l.tsv") == [] and not list(tmp_path.glob("*.tmp"))
    assert [e.word for e in read_entries(tmp_path / "l.tsv")] == ["communities"]
    assert len(json.loads((tmp_path / "l.tsv.game.json").read_text())["decisions"]) == 1


# Loading the words announces itself and takes 30 s (a large corpus).
SLOW_LOAD = slowed("r2d.game.ui", "load_words", "loading", 30)


def test_terminal_ctrl_c_at_start_up_or_while_loading_quits_at_once_writing_nothing(tmp_path):
    write_words(tmp_path / "w.tsv", WORDS)
    child = spawn(tmp_path, before=SLOW_LOAD)
    child.expect_exact("(loading)")
    child.sendintr()
    child.expect_exact("interrupted before the first word; nothing written", timeout=10)
    child.expect(pexpect.EOF, timeout=10)
    child.close()
    assert child.exitstatus == 130
    child = spawn(tmp_path)
    child.sendintr()                        # at once: during Python's start-up, imports or loading
    child.expect(pexpect.EOF, timeout=10)
    child.close()
    assert child.exitstatus != 0            # 130; before the game's main(), Python's own: 1 or killed by SIGINT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.tsv"]


def test_terminal_kill9_in_a_burst_never_corrupts(tmp_path):
    rng = random.Random(0)
    words = [f"word{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(50)]
    write_words(tmp_path / "w.tsv", [(w, 100 - i) for i, w in enumerate(words)])
    child = spawn(tmp_path)
    child.expect_exact(">? ")
    for _ in range(40):                     # fewer answers than words: a next word always remains to resume at
        child.sendline("")                  # answers queue up faster than the game saves them
    child.expect_exact(f"[{words[rng.randrange(5, 30)]}]")
    child.kill(signal.SIGKILL)
    child.wait()
    assert check_file(tmp_path / "l.tsv") == []
    got = [e.word for e in read_entries(tmp_path / "l.tsv")]
    assert got == words[: len(got)] and len(got) >= 5
    (tmp_path / "l.tsv.abc123.tmp").write_text("half a wri", encoding="utf-8")   # as a kill -9 may leave
    child = spawn(tmp_path)
    child.expect_exact(f"{len(got)} words decided so far")
    child.expect_exact(f"[{words[len(got)]}]>? ")
    assert not list(tmp_path.glob("*.tmp"))
    child.sendline("q")
    child.expect(pexpect.EOF)


def test_terminal_time_limit_ends_the_session(tmp_path):
    import time

    write_words(tmp_path / "w.tsv", WORDS)
    child = spawn(tmp_path, "--minutes", "0.02")
    child.expect(r"0:0\d left")
    child.expect_exact("[communities] (a: community ~s)>? ")
    time.sleep(1.5)                         # the 1.2 s are over while the player thinks
    child.sendline("a")                     # the answer still counts, then the session ends
    child.expect_exact("session over: 1 words decided")
    child.expect(pexpect.EOF)
    assert [e.word for e in read_entries(tmp_path / "l.tsv")] == ["communities"]


from hypothesis import given, settings, strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "30"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.sampled_from(["", "a", "b", "u", "s", "?", "community ~s", "plan ~ed", "house ~ing", "zz"]),
                max_size=25))
def test_any_answer_sequence_keeps_a_valid_list_and_undo_unwinds_it(answers):
    start = {"news": Entry("news")}
    s = new_state(words=["communities", "housing", "news", "planned", "quick", "communes"], entries=start)
    for i, a in enumerate(answers):
        step(s, a, now=float(i))
        DeconstructionList(list(s.entries.values()))  # raises on duplicates, bad spelling, double claims
        assert s.decided == sum(1 for h in s.history if h[0] == "decided")
        if not s.done:
            assert s.word not in s.entries  # the word on screen is never one already decided
    while s.history:
        n = len(s.history)
        step(s, "u", now=100.0)
        assert len(s.history) == n - 1, "undo must take back one answer, also after the last word"
    assert s.entries == start and s.decided == 0


def test_a_game_list_is_usable_by_the_tokenizer_at_once(tmp_path):
    from r2d.lists.deconstruct import write_entries
    from r2d.tokenizer.hf import R2DTokenizer

    s = new_state()
    for answer in ("a", "a", "", "a"):       # communities, housing, quick, planned
        step(s, answer, now=0.0)
        write_entries(tmp_path / "l.tsv", s.entries.values())
    tok = R2DTokenizer.train(word_counts={"community": 5, "house": 5, "plan": 5, "quick": 5}, vocab_size=300,
                             deconstruction_list=tmp_path / "l.tsv")
    text = "housing planned communities quick"
    enc = tok(text, add_special_tokens=False)
    assert tok.decode(enc["input_ids"], enc["flags"]) == text
    names = list(tok.flag_names)
    rows = [dict(zip(names, f)) for f in enc["flags"]]
    assert any(r["Suffix_ing"] for r in rows) and any(r["Suffix_ed"] for r in rows) and any(r["Suffix_s"] for r in rows)
