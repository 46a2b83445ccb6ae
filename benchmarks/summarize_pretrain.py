"""Print the eval table of two pretraining runs (R2D and RoBERTa) from their metrics.jsonl (BENCHMARKS.md, issue 4).

    python benchmarks/summarize_pretrain.py [R2D_RUN_DIR ROBERTA_RUN_DIR]   (default /work/runs/small2-r2d, -roberta)
"""
import sys
from r2d.analysis.plots import read_jsonl
run_r2d, run_roberta = sys.argv[1:3] if len(sys.argv) > 2 else ("/work/runs/small2-r2d", "/work/runs/small2-roberta")
r = read_jsonl(f"{run_r2d}/metrics.jsonl"); b = read_jsonl(f"{run_roberta}/metrics.jsonl")
er = [x for x in r if 'eval_loss' in x]; eb = [x for x in b if 'eval_loss' in x]
names = ['NoSpace','FirstCap','AllCaps','Suffix_s','Suffix_ed','Suffix_ing','Contraction_s']
steps = [x['step'] for x in er]
print("R2D eval steps:", steps, " RoBERTa eval steps:", [x['step'] for x in eb])
print("| step | R2D eval loss (MLM + flag) | R2D MLM acc | R2D macro flag F1 | RoBERTa eval loss | RoBERTa MLM acc |")
print("|---:|---|---:|---:|---:|---:|")
bb = {x['step']: x for x in eb}
for x in er:
    y = bb.get(x['step'], {})
    print(f"| {x['step']} | {x['eval_loss']:.3f} ({x['eval_mlm_loss']:.3f} + {x['eval_flag_loss']:.3f}) | {x['eval_mlm_accuracy']:.3f} | {x['eval_macro_f1']:.3f} | "
          f"{y.get('eval_loss', float('nan')):.3f} | {y.get('eval_mlm_accuracy', y.get('eval_accuracy', float('nan'))):.3f} |")
print()
print("| flag | eval positives | " + " | ".join(f"F1 @ {x['step']}" for x in er) + " |")
print("|---|---:|" + "---:|" * len(er))
for n in names:
    print(f"| {n} | {er[-1]['eval_support_'+n]} | " + " | ".join(f"{x['eval_f1_'+n]:.3f}" for x in er) + " |")
