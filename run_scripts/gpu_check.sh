#!/usr/bin/env bash
# GPU check: the tests that exercise a CUDA device, then bench_speed for one model on cuda.
#   bash run_scripts/gpu_check.sh [MODEL] [DATASET] [EPOCHS]     (defaults: GRU4Rec lastfm 3)
# Prints the device, the tests' summary and the benchmark's figures (its section of
# docs/performance.md is rewritten: the cuda run gets its own section, keyed by model/dataset/teacher,
# so run it from a checkout whose docs you mean to update).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-GRU4Rec}; dataset=${2:-lastfm}; epochs=${3:-3}
python - <<'PY'
import torch
assert torch.cuda.is_available(), "gpu_check: no CUDA device visible to torch"
print(f"[gpu_check] {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
PY
python -m pytest -q -rs tests/test_device.py tests/test_soft_label_cache.py tests/test_loss.py
python run_scripts/bench_speed.py --model "$model" --dataset "$dataset" --teacher model --epochs "$epochs" \
    --use_gpu=True --output docs/performance_gpu.md --note "run_scripts/gpu_check.sh"
echo "[gpu_check] figures written to docs/performance_gpu.md"
