#!/usr/bin/env bash
# The Last.FM reproduction behind docs/results.md: all five methods, GRU4Rec and NARM, seeds 2020
# and 2021 (seed-major, so a cut-short run still has complete seeds). Resumable: rerun to continue;
# add seeds or models on the command line of benchmark.py to extend docs/results/lastfm.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
for seed in ${SEEDS:-2020 2021}; do
  for model in ${MODELS:-GRU4Rec NARM}; do
    python run_scripts/benchmark.py --models "$model" --teachers none pop model data training \
      --datasets lastfm --seeds "$seed" --config_files docs/results/lastfm_budget.yaml \
      --output docs/results/lastfm.csv --no_table --checkpoint_dir=results/saved
  done
done
python run_scripts/aggregate.py docs/results/lastfm.csv --output docs/results/lastfm_table2
