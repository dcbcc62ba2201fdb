#!/usr/bin/env bash
# The analyses of the 6-epoch run, docs/results_6epochs.md (paper Fig. 1/3-7): the sweeps on
# Last.FM with NARM and seed 2020 (the budget of docs/results/lastfm_budget_6epochs.yaml), then NARM on ml
# (Base, SoftRec, CSRec-M) for the popularity and length plots, and its expectation-term sweep.
# Resumable: finished runs in the `<output>/<name>_runs.csv` files are skipped. Popularity and
# length on Last.FM read the per-user files of the 6-epoch rows (docs/results/lastfm.csv). Then
# regenerate docs/results_6epochs.md (its first line has the command). The converged analyses:
# bash run_scripts/lastfm_reproduction.sh analyses MODEL.
set -euo pipefail
cd "$(dirname "$0")/.."
A="--model NARM --dataset lastfm --seeds ${SEEDS:-2020} --config_files docs/results/lastfm_budget_6epochs.yaml \
   --output docs/results/analyses --checkpoint_dir=results/saved"
python run_scripts/analyze.py expectation $A
python run_scripts/analyze.py num_teachers --teachers model $A
python run_scripts/analyze.py sample_ratio --values 0.5 0.7 0.8 0.9 $A
python run_scripts/analyze.py sparsity --teachers none model --values 0.0 0.15 0.3 $A
python run_scripts/analyze.py popularity --results docs/results/lastfm.csv --output docs/results/analyses
python run_scripts/analyze.py length --results docs/results/lastfm.csv --output docs/results/analyses

python run_scripts/benchmark.py --models NARM --teachers none pop model --datasets ml --seeds 2020 \
  --config_files docs/results/ml_budget.yaml --output docs/results/ml.csv --no_table \
  --checkpoint_dir=results/saved
python run_scripts/analyze.py popularity --results docs/results/ml.csv --output docs/results/analyses_ml
python run_scripts/analyze.py length --results docs/results/ml.csv --output docs/results/analyses_ml
python run_scripts/analyze.py expectation --model NARM --dataset ml --seeds 2020 \
  --config_files docs/results/ml_budget.yaml --output docs/results/analyses_ml --checkpoint_dir=results/saved
