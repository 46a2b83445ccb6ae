#!/usr/bin/env bash
# The GPU path, checked and timed on one CUDA GPU in at most 8 minutes: the tests marked `cuda` (and the GPU-following
# smoke tests), one training step of the causal R2D model vs its 1D twin, generation with and without the KV cache,
# and the first 200 steps of each `--preset gpu` pretraining run with the preset's extrapolated total time.
#
#   benchmarks/gpu_check.sh [--data DIR] [--device cuda|cpu] [--steps N]
#
# --data: what `python benchmarks/gpu_check.py prepare` wrote (default data-gpu/ at the repository root; README,
# "On a GPU"). Results: one summary table at the end; gpu_check.md (the table), gpu_check.json (every figure) and
# gpu_check.log (all output) in $OUT when set, else gpu-check-results/. Without a CUDA GPU it says so and exits 0.
# `--device cpu` is the script's dry run: every step at toy sizes on the CPU (prepare its data with
# `gpu_check.py prepare --data DIR --corpus-mb 0.3 --vocab 500`). Wheels in .whl/ (benchmarks/gpu_wheels.sh) are
# installed to /tmp/site first, for a machine that lacks packages.
set -u
cd "$(dirname "$0")/.."
DATA=data-gpu
DEVICE=""
STEPS=200
while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA="$2"; shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-460}  # stop starting steps after this many seconds: the summary still fits in 8 minutes

if [ -z "$DEVICE" ]; then
  if ! "$PY" -c "import torch" 2>/dev/null; then
    echo "gpu_check.sh: $PY has no torch: nothing to check here (PYTHON=... names another interpreter)."
    exit 0
  elif "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    DEVICE=cuda
  else
    echo "gpu_check.sh: no CUDA GPU on this machine (torch sees none): nothing to check. --device cpu runs the dry run."
    exit 0
  fi
fi
if [ "$DEVICE" = cuda ] && [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then  # made for the GPU machine's Python
  if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl; then
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  else
    echo "gpu_check.sh: installing .whl/ failed: going on with the packages installed (the env step names what fails)" >&2
  fi
fi
export PYTHONPATH=$PWD/src:$PWD/tests${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
RESULTS=${OUT:-gpu-check-results}  # what comes back: gpu_check.md, gpu_check.json, gpu_check.log (3 files)
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
WORK=${GPU_CHECK_WORK:-$(mktemp -d /tmp/gpu-check.XXXXXX)}  # the steps' JSON and logs, the preset's runs (models)
mkdir -p "$WORK"
exec > >(tee "$RESULTS/gpu_check.log") 2>&1
TINY=""
SCALE=1  # the dry run on a (shared, slow) CPU gets longer limits
if [ "$DEVICE" = cpu ]; then TINY="--tiny"; STEPS=${STEPS_DRY:-6}; SCALE=${GPU_CHECK_TIME_SCALE:-6}; BUDGET=$((BUDGET * SCALE)); fi
COMMON="--device $DEVICE --results $WORK --data $DATA $TINY"
STATUS=()

step() {  # step NAME TIMEOUT_S COMMAND...: run one step under a time limit, record how it ended
  local name=$1 limit=$(($2 * SCALE)); shift 2
  local now=$(( $(date +%s) - START ))
  if [ $((now + 20)) -gt "$BUDGET" ]; then
    STATUS+=("\"$name\": \"skipped: the 8-minute budget was spent ($now s)\""); return
  fi
  [ $((now + limit)) -gt "$BUDGET" ] && limit=$((BUDGET - now))
  echo "== gpu_check: $name (at most ${limit} s; ${now} s so far)"
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$WORK/$name.log"
  local rc=${PIPESTATUS[0]} took=$(( $(date +%s) - t0 ))
  case $rc in
    0) STATUS+=("\"$name\": \"ok ($took s)\"") ;;
    124|137) STATUS+=("\"$name\": \"TIMED OUT after $took s (its output: gpu_check.log)\"") ;;
    *) STATUS+=("\"$name\": \"FAILED, exit $rc after $took s (its output: gpu_check.log)\"") ;;
  esac
}

step env 60 "$PY" benchmarks/gpu_check.py env $COMMON
if ! grep -q '"ok": true' "$WORK/env.json" 2>/dev/null; then
  echo "gpu_check.sh: the environment check failed (its output is above); stopping" >&2
  exit 1
fi
if [ ! -f "$DATA/prepared.json" ]; then
  echo "gpu_check.sh: $DATA/prepared.json is missing: run 'python benchmarks/gpu_check.py prepare --data $DATA' where" \
       "shared/data is (README, Running on a GPU); the preset step will fail" >&2
fi
# the tests that need CUDA (skipped on the CPU: the dry run only shows that they are collected)
CUDA_TESTS=$(grep -l "pytest.mark.cuda" tests/test_*.py | tr '\n' ' ')
step tests-cuda 150 "$PY" -m pytest -q -p no:cacheprovider -m cuda $CUDA_TESTS
# torch.compile on a busy CPU takes minutes: the dry run leaves it out unless GPU_CHECK_COMPILE=1
VARIANTS="fp32,bf16,bf16+compile"
[ "$DEVICE" = cpu ] && [ "${GPU_CHECK_COMPILE:-0}" != 1 ] && VARIANTS="fp32,bf16"
step steps 120 "$PY" benchmarks/gpu_check.py steps $COMMON --variants "$VARIANTS"
step generate 90 "$PY" benchmarks/gpu_check.py generate $COMMON
step preset 240 "$PY" benchmarks/gpu_check.py preset $COMMON --steps "$STEPS"
# last, with what time is left: smoke tests of the commands, which follow the default device (here the GPU)
if [ "$DEVICE" != cpu ]; then
  step tests-commands 90 "$PY" -m pytest -q -p no:cacheprovider \
    tests/test_serve.py::test_serve_command_with_a_real_causal_model \
    tests/test_generation.py::test_cli_generate_streams_the_same_text_as_the_library \
    tests/test_scoring.py::test_cli_blimp_json_with_a_causal_model \
    tests/test_bpb.py::test_cli_eval_bpb_json_matches_the_library
fi

{ printf '{"steps": {'; (IFS=,; printf '%s' "${STATUS[*]}"); printf '}}\n'; } > "$WORK/status.json"
"$PY" benchmarks/gpu_check.py summary --results "$WORK" --out "$RESULTS" $([ "$DEVICE" = cpu ] && echo --dry-run)
echo "gpu_check.sh: $(( $(date +%s) - START )) s; the table, every figure and this log in $RESULTS"
