"""Tests for r2d.analysis.protocol: the verdict and the signal follow the numbers they are given."""

from __future__ import annotations

from r2d.analysis.protocol import protocol_lines, signal, signal_lines, verdict
from r2d.evaluation.bootstrap import seed_summary


def _comp(diff, low, high, higher=True):
    return {"what": "BLiMP overall accuracy", "a": "clm-r2d", "b": "clm-bpe", "a_mean": 0.6 + diff, "b_mean": 0.6,
            "difference": diff, "low": low, "high": high, "level": 0.95, "excludes_zero": low > 0 or high < 0,
            "higher_is_better": higher}


def test_verdict_names_the_leader_and_the_interval():
    (line,) = verdict([_comp(0.02, 0.01, 0.03)])
    assert "clm-r2d ahead by 0.0200" in line and "excludes zero" in line
    assert "clm-r2d - clm-bpe = +0.0200, 95% interval [+0.0100, +0.0300]" in line
    (line,) = verdict([_comp(0.02, -0.01, 0.05)])
    assert "clm-r2d ahead" in line and "includes zero" in line
    (line,) = verdict([_comp(0.02, 0.01, 0.03, higher=False)])  # e.g. bits per byte: lower is better
    assert "clm-bpe ahead by 0.0200" in line


def test_signal_needs_every_model_above_its_untrained_row_with_apart_intervals():
    def summary(trained, untrained):
        return {"blimp_seeds": {"clm-r2d": {"overall": seed_summary(trained)},
                                "clm-r2d-untrained": {"overall": seed_summary(untrained)}},
                "finetune": {"stsb": {"mlm-r2d": {"headline": "pearson", "pearson": seed_summary([0.3, 0.32, 0.31])},
                                      "mlm-r2d-untrained": {"headline": "pearson",
                                                            "pearson": seed_summary([0.1, 0.12, 0.11])}}}}

    good = signal(summary([0.60, 0.61, 0.62], [0.50, 0.51, 0.52]))
    assert good["shown"] and len(good["checks"]) == 2
    assert signal_lines(good)[-1] == "Signal shown: yes."
    overlapping = signal(summary([0.55, 0.60, 0.65], [0.50, 0.55, 0.60]))
    assert not overlapping["shown"] and "intervals overlap" in signal_lines(overlapping)[0]
    below = signal(summary([0.40, 0.41, 0.42], [0.50, 0.51, 0.52]))
    assert not below["shown"] and "not above" in signal_lines(below)[0]
    # one seed has no seed interval: listed, but it neither makes nor breaks the signal
    one = summary([0.60, 0.61, 0.62], [0.50, 0.51, 0.52])
    one["blimp_seeds"] |= {"mlm-r2d": {"overall": seed_summary([0.40])},
                           "mlm-r2d-untrained": {"overall": seed_summary([0.50])}}
    checked = signal(one)
    assert checked["shown"] and len(checked["checks"]) == 3
    assert [c["apart"] for c in checked["checks"]].count(None) == 1
    assert "pretrained 0.4000 vs untrained 0.5000 (n=1/1): not above, one seed: no seed interval" in \
        " ".join(signal_lines(checked))
    only_one = signal({"blimp_seeds": one["blimp_seeds"] | {"clm-r2d": {"overall": seed_summary([0.6])},
                                                            "clm-r2d-untrained": {"overall": seed_summary([0.5])}}})
    assert not only_one["shown"]  # no check with seed intervals: nothing shown


def test_protocol_states_the_run_sizes():
    text = " ".join(protocol_lines({"sizes": {"model_preset": "mini", "batch_size": 16, "max_length": 128,
                                              "causal_steps": 500, "mlm_steps": 800, "causal_seeds": [0, 1, 2]},
                                    "tokenizers": {"vocab_size": {"r2d": 4096, "bpe": 4096}}}))
    assert "16 sequences x 128 rows" in text and "500 steps (causal)" in text and "[0, 1, 2]" in text


def test_protocol_without_the_mlm_pair_describes_the_causal_pair_alone():
    sizes = {"model_preset": "mini", "batch_size": 16, "max_length": 128, "causal_steps": 5000, "mlm_steps": 0,
             "causal_seeds": [0, 1, 2], "mlm_seeds": [0], "tasks": [], "causal_tasks": ["stsb"], "lora_r": 8}
    text = " ".join(protocol_lines({"sizes": sizes, "lora_objective": "clm"}))
    assert "the MLM pair is not run" in text and "RoBERTa" not in text and "(MLM)" not in text
    assert "MLM pretraining" not in text and "per-flag F1" not in text
    assert "LoRA (rank 8) against full fine-tuning once, on the pretrained R2D causal model" in text
    with_mlm = " ".join(protocol_lines({"sizes": sizes | {"mlm_steps": 800, "tasks": ["stsb"]}, "lora_objective": "mlm"}))
    assert "MLM R2D vs RoBERTa" in with_mlm and "800 steps (MLM)" in with_mlm and "pretrained R2D MLM" in with_mlm
