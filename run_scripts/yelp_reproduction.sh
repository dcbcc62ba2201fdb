#!/usr/bin/env bash
# The converged Yelp reproduction (issue 30; docs/results.md, Yelp). The same convergence rules as
# Last.FM (run_scripts/lastfm_reproduction.sh): settings pinned in docs/results/lastfm_budget*.yaml
# with docs/results/yelp_budget.yaml last (Yelp's windows of 10, soft labels on the fly).
#
#   bash run_scripts/yelp_reproduction.sh prepare            # Yelp.txt -> $DATA/yelp (Table 1)
#   bash run_scripts/yelp_reproduction.sh table MODEL        # Base, SoftRec, CSRec-M/-D/-T x SEEDS
#                                                            # (GRU4Rec; the other models without -D)
#                                                            # (TEACHERS=none runs before the search)
#   bash run_scripts/yelp_reproduction.sh choice MODEL       # the student's beta/T the table uses
#   bash run_scripts/yelp_reproduction.sh search MODEL       # the student's beta x T on validation
#                                                            # (CSRec-M, seed 2020)
#   bash run_scripts/yelp_reproduction.sh bridge MODEL       # Base and CSRec-M, seed 2020, under the
#                                                            # authors' protocol
#   bash run_scripts/yelp_reproduction.sh analyses           # popular/niche users (Fig. 1 / 3a) from
#                                                            # the table's per-user files
#
# YELP_TXT (default ../shared/data/yelp/Yelp.txt) is the public file (RUCAIBox's CIKM2020-S3Rec,
# data/Yelp.txt); DATA (default dataset) is where the prepared folders go. Resumable exactly as the
# Last.FM script: landed rows are skipped, trained phases are loaded from the store under $STORE,
# a stopped search's finished trials are committed and carried over, COMMIT=1 commits each row as
# it lands. After each row the soft-label disk caches no process has open are dropped (14 GB
# per teacher set; KEEP_CACHES=1 keeps them), so table lanes (SEEDS=...) can share one store.
# Run it with OMP_NUM_THREADS=1 beside other work.
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/reproduction_lib.sh
stages="prepare table choice search bridge analyses"
usage="usage: yelp_reproduction.sh ${stages// /|} [MODEL]"
stage=${1:?$usage}
model=${2:-GRU4Rec}
YELP_TXT=${YELP_TXT:-../shared/data/yelp/Yelp.txt}
DATA=${DATA:-dataset}
STORE=${STORE:-results/yelp_converged}
OUT=${RESULTS:-docs/results/converged}  # RESULTS: tests; OUT is the device call's folder
files="$DATA/yelp/yelp.yaml docs/results/lastfm_budget.yaml docs/results/lastfm_budget_${model}.yaml docs/results/yelp_budget.yaml"
[ -f "docs/results/lastfm_budget_${model}.yaml" ] || { echo "no pinned settings for model '$model': docs/results/lastfm_budget_${model}.yaml" >&2; exit 2; }
store_args=(--checkpoint_dir="$STORE/saved" --teacher_store="$STORE/teacher_store" --data_path="$DATA")

choice() {  # the student's beta/T: Yelp's own search where one ran (GRU4Rec's always does: issue 30),
  # else the model's Last.FM choice, as the issue's scope sets for SASRec, NARM and NextItNet
  if [ "$model" = GRU4Rec ] || [ -d "$OUT/hyper/yelp_$model" ]; then
    student_choice "$OUT/hyper/yelp_$model" "yelp_reproduction.sh search $model"
  else
    student_choice "$OUT/hyper/$model" "lastfm_reproduction.sh search $model"
  fi
}

student_args() {  # $1 teacher, $2 the student's beta/T. Base has no soft labels: its row (and
  # config hash) does not depend on the search, so the search's teacher runs (search_teacher in
  # device/yelp_lanes.sh) are the table's Base rows, and the bridge's Base matches them
  [ "$1" = none ] || echo "$2"
}

prepare() {  # once; prepare_cli writes atomically, so a killed run leaves nothing half-written
  local name=$1; shift
  [ -f "$DATA/$name/manifest.json" ] && return 0
  python -m recbole_csrec.prepare_cli --input "$YELP_TXT" --format sequences --name "$name" --window 10 \
    --output-dir "$DATA" "$@"
}

case $stage in
prepare)
  prepare yelp ;;
choice)
  choice ;;
table)
  prepare yelp
  choice=""
  [ "${TEACHERS:-}" = none ] || choice=$(choice)
  teachers="none pop model training"  # the issue's scope: CSRec-D for GRU4Rec only
  [ "$model" = GRU4Rec ] && teachers="none pop model data training"
  for seed in ${SEEDS:-2020 2021 2022}; do
    for teacher in ${TEACHERS:-$teachers}; do  # one call per row, committed as it lands
      student=$(student_args "$teacher" "$choice")
      python run_scripts/benchmark.py --models "$model" --teachers $teacher --datasets yelp --seeds "$seed" \
        --config_files $files --output $OUT/yelp.csv --no_table "${store_args[@]}" $student || true
      MESSAGE="docs/results/converged: Yelp $model $teacher seed $seed" commit $OUT/yelp.csv $OUT/per_user
      [ "${KEEP_CACHES:-0}" = 1 ] || drop_unused_soft_labels "$STORE/teacher_store/soft_labels"
    done
  done
  ;;
search)
  prepare yelp
  student_search "$OUT/hyper/yelp_$model" "$STORE/hyper/$model" \
    "docs/results/converged: Yelp $model student search (beta x T, CSRec-M seed 2020)" \
    --model="$model" --dataset=yelp --teacher=model --seed=2020 --config_files="$files" \
    --params_file=docs/results/lastfm_student_grid.yaml --teacher_store="$STORE/teacher_store" \
    --data_path="$DATA" ${SEARCH_ARGS:-}
  ;;
bridge)
  # The authors' windows (end-aligned, overlapping) and evaluation (input items masked), once;
  # every other setting as in the table's rows of the same method (Base without beta/T)
  prepare yelp_authors --window-alignment end_aligned
  choice=$(choice)
  for teacher in ${TEACHERS:-none model}; do
    student=$(student_args "$teacher" "$choice")
    python run_scripts/benchmark.py --models "$model" --teachers $teacher --seeds 2020 \
      --datasets yelp_authors --config_files "$DATA/yelp_authors/yelp_authors.yaml" ${files#* } \
      --mask_input_items=True --output $OUT/yelp_bridge.csv --no_table "${store_args[@]}" $student || true
    MESSAGE="docs/results/converged: Yelp $model $teacher bridge row" commit $OUT/yelp_bridge.csv $OUT/per_user
  done
  ;;
analyses)
  # The paper's Fig. 1 / 3a from the table's per-user files (no training): popular- vs niche-type
  # users (next item among the 20% most frequent training items), Recall@10 and NDCG@10; rerun as
  # rows land.
  python run_scripts/analyze.py popularity --results $OUT/yelp.csv --output $OUT/analyses_yelp \
    --metric recall@10 ndcg@10
  MESSAGE="docs/results/converged: Yelp popular/niche-user analysis" commit $OUT/analyses_yelp
  ;;
*)
  echo "unknown stage '$stage': accepted are ${stages// /, }" >&2; exit 2 ;;
esac
