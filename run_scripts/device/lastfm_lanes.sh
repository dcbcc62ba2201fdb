#!/usr/bin/env bash
# The one device call behind the H200 rows of docs/results/converged (2026-11-29): SASRec CSRec-T x
# seeds 2020-2022, GRU4Rec's sweeps (seed 2020) and NARM's 30% sparsity point, as parallel lanes
# on one GPU (16 cores), stopped at DEADLINE seconds; results, logs and the new teacher-store
# entries are then packed into $OUT, for merging into this checkout's files and store.
#
# Prepared on this machine, in the repository root (.devrun/ is ignored by git; lanes_lib.sh does the rest):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 -d .devrun/whl recbole==1.2.1 colorlog==4.7.2 texttable \
#     pandas==2.3.3 pytz tzdata           # what the device image lacks (it has torch 2.11+cu130)
#   cp -r run_scripts/device/numpy2_shim .devrun/shim
#   mkdir -p .devrun/store/teacher_store  # + the store entries the lanes reuse (SASRec side teachers)
# and run there with .devrun and dataset/lastfm carried:
#   OUT=<folder> bash run_scripts/device/lastfm_lanes.sh
# The image has numpy 2; .devrun/shim/sitecustomize.py restores the three aliases RecBole 1.2.1's
# Config reads (see that file). Everything else is this repository's code, unchanged.
# At the deadline it stops its own lanes (their process groups), nothing else.
set -u
cd "$(dirname "$0")/../.."
source run_scripts/device/lanes_lib.sh
lanes_setup

export STORE=.devrun/store
ST=(--checkpoint_dir=$STORE/saved --teacher_store=$STORE/teacher_store)
for s in 2020 2021 2022; do
  lane sasrec_T_$s env SEEDS=$s TEACHERS=training bash run_scripts/lastfm_reproduction.sh table SASRec
done
G=(--model GRU4Rec --dataset lastfm --seeds 2020 --config_files docs/results/lastfm_budget.yaml
   docs/results/lastfm_budget_GRU4Rec.yaml --output docs/results/converged/analyses/GRU4Rec "${ST[@]}"
   --beta=0.75 --temperature=6)
an() { local log=$1; shift; lane "$log" python3 run_scripts/analyze.py "$@"; }
an gru_m12 num_teachers --teachers model --values 1 2 --baselines none "${G[@]}"
an gru_m34 num_teachers --teachers model --values 3 4 "${G[@]}"
an gru_expect expectation "${G[@]}"
an gru_p56 sample_ratio --values 0.5 0.6 "${G[@]}"
an gru_p79 sample_ratio --values 0.7 0.9 "${G[@]}"
an gru_sp15 sparsity --teachers none model --values 0.15 "${G[@]}"
an gru_sp30 sparsity --teachers none model --values 0.3 "${G[@]}"
N=(--model NARM --dataset lastfm --seeds 2020 --config_files docs/results/lastfm_budget.yaml
   docs/results/lastfm_budget_NARM.yaml --output docs/results/converged/analyses/NARM "${ST[@]}"
   --beta=0.75 --temperature=6)
an narm_sp30 sparsity --teachers none model --values 0.3 "${N[@]}"

lanes_wait "${DEADLINE:-540}"
lanes_pack SASRec GRU4Rec  # the SASRec side teachers first: the CPU lanes reuse them
