#!/usr/bin/env bash
# Issue 30's remaining Yelp lanes in one device call (one GPU, 16 cores), stopped at DEADLINE
# seconds: GRU4Rec's student search (the trials not yet in docs/results/converged/hyper/
# yelp_GRU4Rec, carried over from the CPU runs), then its table (Base, SoftRec, CSRec-M/-D/-T x
# seeds 2020-2022) and the bridge; beside them SASRec, NARM and NextItNetLastItem (Base, SoftRec,
# CSRec-M, CSRec-T; seed 2020 first, then 2021 and 2022). Every stage is
# run_scripts/yelp_reproduction.sh's, resumable as on the CPU: rows already in yelp.csv are skipped.
# Rows carry the machine in their `machine` column; results, logs and new store entries come back
# packed in $OUT (run_scripts/device/lanes_lib.sh), for merging into this checkout and its store.
#
# Prepared on this machine, in the repository root, as for lastfm_lanes.sh (its header: .devrun/whl
# and .devrun/shim), plus the public Yelp file:
#   cp ../shared/data/yelp/Yelp.txt .devrun/Yelp.txt
#   mkdir -p .devrun/store/teacher_store   # + any Yelp store entries the CPU runs left
# and run there with .devrun carried:
#   OUT=<folder> DEADLINE=540 bash run_scripts/device/yelp_lanes.sh
# The same chains run on a 2-core CPU as two single-thread lanes (seed 2020 for the other models),
# from a git worktree pinned to one commit, committing rows as they land:
#   COMMIT=1 DATA=/work/yelp/data STORE=/work/yelp/store bash run_scripts/device/yelp_lanes.sh cpu
# (DATA, STORE and YELP_TXT as for yelp_reproduction.sh; its defaults where unset)
# Soft labels: an exact Yelp table is 7.2 GB, over the pinned 2,048 MB, so each teacher set goes to
# the disk cache where the disk has room and is computed on the fly where it has not (the same
# table either way, to fp16 rounding); once a row has landed, the caches no lane has open are dropped
# (reproduction_lib.sh, drop_unused_soft_labels).
set -u
self=$(realpath "$0")
cd "$(dirname "$self")/../.."
export KEEP_CACHES=0
chosen=${RESULTS:-docs/results/converged}/hyper/yelp_GRU4Rec/best_config.yaml  # RESULTS: tests

search_teacher() {  # the search's teachers, Base of seeds 2021 and 2022 (rows of the table too),
  # trained into the store before its trials start: once, not once per trial
  [ -f $chosen ] && return 0
  SEEDS=$1 TEACHERS=none bash run_scripts/yelp_reproduction.sh table GRU4Rec
  # A row that landed in an earlier session was skipped just now, and a new machine's store lacks
  # its weights: this run (its row to a scratch folder, not committed) trains them, or loads them
  COMMIT=0 RESULTS=results/yelp_search_teachers SEEDS=$1 TEACHERS=none bash run_scripts/yelp_reproduction.sh table GRU4Rec
}

case ${1:-lanes} in
gru_chain)  # the search, then seed 2020's table and the bridge
  search_teacher 2021 & search_teacher 2022 & wait
  SEARCH_ARGS="--num_cpus=${TRIALS:-7} --max_concurrent_trials=${TRIALS:-7} --gpus_per_trial=${GPU_SHARE:-0.1}" \
    bash run_scripts/yelp_reproduction.sh search GRU4Rec
  SEEDS=2020 bash run_scripts/yelp_reproduction.sh table GRU4Rec
  bash run_scripts/yelp_reproduction.sh bridge GRU4Rec
  ;;
gru_seed)  # one more seed's table, once the search has chosen beta and T
  until [ -f $chosen ]; do sleep 10; done
  SEEDS=$2 bash run_scripts/yelp_reproduction.sh table GRU4Rec
  ;;
cpu)  # two single-thread lanes, each a chain; they meet at the search, which takes both cores
  export OMP_NUM_THREADS=1 TRIALS=2 GPU_SHARE=0
  bash run_scripts/yelp_reproduction.sh prepare
  (
    bash "$self" gru_chain
    for model in SASRec NARM; do SEEDS=2020 bash run_scripts/yelp_reproduction.sh table "$model"; done
  ) &
  (
    bash "$self" gru_seed 2021
    bash "$self" gru_seed 2022
    SEEDS=2020 bash run_scripts/yelp_reproduction.sh table NextItNetLastItem
  ) &
  wait
  bash run_scripts/yelp_reproduction.sh analyses
  ;;
lanes)
  export DATA=.devrun/data STORE=.devrun/store YELP_TXT=.devrun/Yelp.txt
  source run_scripts/device/lanes_lib.sh
  lanes_setup
  bash run_scripts/yelp_reproduction.sh prepare
  lane gru_search bash "$self" gru_chain
  lane gru_2021 bash "$self" gru_seed 2021
  lane gru_2022 bash "$self" gru_seed 2022
  for model in SASRec NARM NextItNetLastItem; do
    lane "$model" env SEEDS="2020 2021 2022" bash run_scripts/yelp_reproduction.sh table "$model"
  done
  lanes_wait "${DEADLINE:-540}"
  lanes_pack GRU4Rec SASRec NARM NextItNetLastItem
  ;;
*)
  echo "usage: yelp_lanes.sh [lanes|cpu]   (gru_chain and gru_seed SEED are its own lanes)" >&2; exit 2 ;;
esac
