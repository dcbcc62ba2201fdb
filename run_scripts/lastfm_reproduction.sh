#!/usr/bin/env bash
# The converged Last.FM reproduction behind docs/results.md. Every phase trains to RecBole's early
# stopping (10 validations without a better NDCG@10, at most 150 epochs) with the settings pinned
# in docs/results/lastfm_budget.yaml and docs/results/lastfm_budget_<Model>.yaml.
#
#   bash run_scripts/lastfm_reproduction.sh search MODEL   # the student's beta x T search (CSRec-M,
#                                                          # seed 2020, validation only)
#   bash run_scripts/lastfm_reproduction.sh table MODEL    # Base, SoftRec, CSRec-M/-D/-T x SEEDS at
#                                                          # the chosen beta/T
#
# Resumable: a finished search (its best_config.yaml) is not run again, rows already in
# docs/results/converged/lastfm.csv are skipped, and trained models are loaded from the teacher
# store under $STORE (one entry per distinct model: a Base run and the CSRec-M teacher with the
# same seed are trained once). With COMMIT=1 each finished stage's results are committed.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:?usage: lastfm_reproduction.sh search|table MODEL}
model=${2:?usage: lastfm_reproduction.sh search|table MODEL}
STORE=${STORE:-results/lastfm_converged}
OUT=docs/results/converged
files="docs/results/lastfm_budget.yaml docs/results/lastfm_budget_${model}.yaml"
[ -f "docs/results/lastfm_budget_${model}.yaml" ] || { echo "no pinned settings for model '$model': docs/results/lastfm_budget_${model}.yaml" >&2; exit 2; }

commit() {  # commit only these paths; another process may hold the index lock for a moment
  [ "${COMMIT:-0}" = 1 ] || return 0
  for _ in 1 2 3 4 5 6; do
    git add -- "$@" && git commit -q -m "$MESSAGE" -- "$@" && return 0
    sleep 5
  done
  echo "could not commit $*" >&2
}

case $stage in
search)
  chosen=$OUT/hyper/$model
  if [ -f "$chosen/best_config.yaml" ]; then echo "search for $model already done: $chosen"; exit 0; fi
  python run_hyper_csrec.py --model="$model" --dataset=lastfm --teacher=model --seed=2020 \
    --config_files="$files" --params_file=docs/results/lastfm_student_grid.yaml \
    --teacher_store="$STORE/teacher_store" --output="$STORE/hyper/$model"
  mkdir -p "$chosen"
  for f in trials.csv trials.md best_config.yaml summary.txt; do cp "$STORE/hyper/$model/$f" "$chosen/$f"; done
  MESSAGE="docs/results/converged: $model student search (beta x T, CSRec-M seed 2020)" commit "$chosen"
  ;;
table)
  best=$OUT/hyper/$model/best_config.yaml
  [ -f "$best" ] || { echo "run the search first: bash run_scripts/lastfm_reproduction.sh search $model" >&2; exit 2; }
  choice=$(python -c "import sys, yaml; c = yaml.safe_load(open(sys.argv[1])); print(f\"--beta={c['beta']} --temperature={c['temperature']}\")" "$best")
  for seed in ${SEEDS:-2020 2021 2022}; do
    python run_scripts/benchmark.py --models "$model" --teachers none pop model data training \
      --datasets lastfm --seeds "$seed" --config_files $files --output $OUT/lastfm.csv --no_table \
      --checkpoint_dir="$STORE/saved" --teacher_store="$STORE/teacher_store" $choice || true
    MESSAGE="docs/results/converged: $model seed $seed rows" commit $OUT/lastfm.csv $OUT/per_user
  done
  ;;
*)
  echo "unknown stage '$stage': accepted are search, table" >&2; exit 2 ;;
esac
