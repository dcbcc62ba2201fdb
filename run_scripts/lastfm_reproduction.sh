#!/usr/bin/env bash
# The converged Last.FM reproduction behind docs/results.md. Every phase trains to RecBole's early
# stopping (10 validations without a better NDCG@10, at most 150 epochs) with the settings pinned
# in docs/results/lastfm_budget.yaml and docs/results/lastfm_budget_<Model>.yaml.
#
#   bash run_scripts/lastfm_reproduction.sh search MODEL   # the student's beta x T search (CSRec-M,
#                                                          # seed 2020, validation only)
#   bash run_scripts/lastfm_reproduction.sh table MODEL    # Base, SoftRec, CSRec-M/-D/-T x SEEDS at
#                                                          # the chosen beta/T
#   bash run_scripts/lastfm_reproduction.sh bridge MODEL   # the authors' protocol: Base, SoftRec and
#                                                          # CSRec-M x SEEDS with their windows and
#                                                          # evaluation (TEACHERS narrows the methods);
#                                                          # for GRU4Rec also Base, seed 2020, with
#                                                          # each option alone, and with both plus
#                                                          # the authors' Base batch size (64)
#   bash run_scripts/lastfm_reproduction.sh allpositions MODEL # Base and CSRec-M x SEEDS with
#                                                          # all_positions=True (docs/performance.md)
#   bash run_scripts/lastfm_reproduction.sh bf16 MODEL     # the same with bf16=True (CPUs with bf16 units)
#   bash run_scripts/lastfm_reproduction.sh topk MODEL       # CSRec-M on top-K soft labels (K = 0 exact, 64, 256;
#                                                          # SEEDS default 2020) beside the exact row
#   bash run_scripts/lastfm_reproduction.sh normalizer MODEL # CSRec-T with the importance normaliser forced
#                                                          # (SEEDS), beside the table's exact rows
#   bash run_scripts/lastfm_reproduction.sh readout NextItNet # RecBole's NextItNet vs NextItNetLastItem
#                                                          # (Base x SEEDS): why the table runs the latter
#   bash run_scripts/lastfm_reproduction.sh analyses MODEL # the paper's analyses at convergence (m, p,
#                                                          # expectation term, sparsity; popularity and
#                                                          # input length from the table's per-user files)
#
# Order used for docs/results.md: search and table for GRU4Rec and NARM, then their bridge, then
# SASRec and NextItNet, then the analyses. NextItNet runs as NextItNetLastItem (README,
# "NextItNetLastItem"; the readout stage measures the difference).
#
# Resumable: a finished search (its best_config.yaml) is not run again, an interrupted one
# (Ctrl+C / SIGINT to its python) continues with its finished trials kept (committed, so also on
# another machine: reproduction_lib.sh, student_search), rows already in
# docs/results/converged/lastfm.csv are skipped, and trained models are loaded from the teacher
# store under $STORE (one entry per distinct model: a Base run and the CSRec-M teacher with the
# same seed are trained once). With COMMIT=1 each finished stage's results are committed;
# SEARCH_ARGS are extra run_hyper_csrec.py options (e.g. --cpus_per_trial=2: one trial at a time).
# SEEDS and TEACHERS narrow a table or bridge run, so that two lanes can share one machine (e.g.
# one lane TEACHERS="data training", the other TEACHERS="none pop model"; a landed row is skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:?usage: lastfm_reproduction.sh search|table|bridge|allpositions|bf16|topk|normalizer|readout|analyses MODEL}
model=${2:?usage: lastfm_reproduction.sh search|table|bridge|allpositions|bf16|topk|normalizer|readout|analyses MODEL}
STORE=${STORE:-results/lastfm_converged}
OUT=docs/results/converged
files="docs/results/lastfm_budget.yaml docs/results/lastfm_budget_${model}.yaml"
[ -f "docs/results/lastfm_budget_${model}.yaml" ] || { echo "no pinned settings for model '$model': docs/results/lastfm_budget_${model}.yaml" >&2; exit 2; }

source run_scripts/reproduction_lib.sh

variant_rows() {  # variant_rows --KEY=VALUE CSV: Base and CSRec-M x SEEDS with one setting changed
  local setting=$1 csv=$2 seed teacher choice
  choice=$(student_choice "$OUT/hyper/$model" "lastfm_reproduction.sh search $model")
  for seed in ${SEEDS:-2020 2021 2022}; do
    for teacher in ${TEACHERS:-none model}; do
      python run_scripts/benchmark.py --models "$model" --teachers $teacher --datasets lastfm --seeds "$seed" \
        --config_files $files --output "$csv" --no_table "$setting" \
        --checkpoint_dir="$STORE/saved" --teacher_store="$STORE/teacher_store" $choice || true
      MESSAGE="docs/results/converged: $model $setting $teacher seed $seed" commit "$csv" $OUT/per_user
    done
  done
}

case $stage in
search)
  student_search "$OUT/hyper/$model" "$STORE/hyper/$model" \
    "docs/results/converged: $model student search (beta x T, CSRec-M seed 2020)" \
    --model="$model" --dataset=lastfm --teacher=model --seed=2020 --config_files="$files" \
    --params_file=docs/results/lastfm_student_grid.yaml --teacher_store="$STORE/teacher_store" ${SEARCH_ARGS:-}
  ;;
table)
  choice=$(student_choice "$OUT/hyper/$model" "lastfm_reproduction.sh search $model")
  for seed in ${SEEDS:-2020 2021 2022}; do
    for teacher in ${TEACHERS:-none pop model data training}; do  # one call per row: each row committed as it lands
      python run_scripts/benchmark.py --models "$model" --teachers $teacher \
        --datasets lastfm --seeds "$seed" --config_files $files --output $OUT/lastfm.csv --no_table \
        --checkpoint_dir="$STORE/saved" --teacher_store="$STORE/teacher_store" $choice || true
      MESSAGE="docs/results/converged: $model $teacher seed $seed" commit $OUT/lastfm.csv $OUT/per_user
    done
  done
  ;;
bridge)
  choice=$(student_choice "$OUT/hyper/$model" "lastfm_reproduction.sh search $model")
  # The authors' windows: the same Last.FM file cut as their code does (end-aligned, overlapping;
  # leaks held-out items into training). Built once; not a built-in dataset on purpose.
  if [ ! -f dataset/lastfm_authors/manifest.json ]; then
    python -m recbole_csrec.prepare_cli --input recbole_csrec/resources/lastfm_small.csv --format csv \
      --name lastfm_authors --window 20 --window-alignment end_aligned --user-col session_id \
      --item-col item_id --rating-col rating --output-dir dataset
  fi
  common=(--no_table --output $OUT/bridge.csv --checkpoint_dir="$STORE/saved" --teacher_store="$STORE/teacher_store" $choice)
  authors=(--datasets lastfm_authors --config_files dataset/lastfm_authors/lastfm_authors.yaml $files --preset=paper)
  ours=(--datasets lastfm --config_files $files)
  for seed in ${SEEDS:-2020 2021 2022}; do  # both options: windows and evaluation as the authors'
    python run_scripts/benchmark.py --models "$model" --teachers ${TEACHERS:-none pop model} --seeds "$seed" \
      "${authors[@]}" --mask_input_items=True "${common[@]}" || true
    MESSAGE="docs/results/converged: $model bridge seed $seed rows" commit $OUT/bridge.csv $OUT/per_user
  done
  # each option alone, to apportion the gap (Base rows: left to the un-narrowed run, not to a lane)
  if [ "$model" = GRU4Rec ] && [ -z "${TEACHERS:-}" ]; then
    python run_scripts/benchmark.py --models "$model" --teachers none --seeds 2020 "${authors[@]}" "${common[@]}" || true
    python run_scripts/benchmark.py --models "$model" --teachers none --seeds 2020 "${ours[@]}" \
      --mask_input_items=True "${common[@]}" || true
    # and the authors' batch size for Base (64) on top of both options
    python run_scripts/benchmark.py --models "$model" --teachers none --seeds 2020 "${authors[@]}" \
      --mask_input_items=True --train_batch_size=64 "${common[@]}" || true
    MESSAGE="docs/results/converged: $model bridge single-option rows" commit $OUT/bridge.csv $OUT/per_user
  fi
  ;;
allpositions)
  # all_positions=True (one forward pass per window; docs/performance.md) for Base and CSRec-M at
  # the table's beta/T, beside the table's per-row rows; its own file and store entries.
  variant_rows --all_positions=True $OUT/lastfm_all_positions.csv
  ;;
bf16)
  # bf16=True (bf16 matmuls, fp32 softmax statistics and loss; docs/performance.md) for Base and
  # CSRec-M, beside the table's fp32 rows; only where the CPU has bf16 units (else fp32 runs).
  variant_rows --bf16=True $OUT/lastfm_bf16.csv
  ;;
topk)
  # CSRec-M with the top-K soft-label approximation (K in ${KS:-0 64 256}; 0 = the exact table, which
  # over this budget goes to the disk cache: the same teachers for all three) instead of the exact cache,
  # beside the table's exact row (docs/performance.md, issue 29): soft_label_cache_mb=100 puts the
  # exact table (300 MB) over budget, and an explicit soft_label_topk comes before the disk cache.
  choice=$(student_choice "$OUT/hyper/$model" "lastfm_reproduction.sh search $model")
  for seed in ${SEEDS:-2020}; do
    for k in ${KS:-0 64 256}; do
      python run_scripts/benchmark.py --models "$model" --teachers model --datasets lastfm --seeds "$seed" \
        --config_files $files --output $OUT/lastfm_topk.csv --no_table --soft_label_topk=$k --soft_label_cache_mb=100 \
        --checkpoint_dir="$STORE/saved" --teacher_store="$STORE/teacher_store" $choice || true
      MESSAGE="docs/results/converged: $model CSRec-M top-$k seed $seed" commit $OUT/lastfm_topk.csv $OUT/per_user
    done
  done
  ;;
normalizer)
  # CSRec-T with noise_normalizer=importance (the default above 10,000 items; docs/method.md) on
  # Last.FM, where auto runs the exact one: the converged effect of the estimate, beside the
  # table's exact CSRec-T rows. The side teachers are the table's (store entries).
  choice=$(student_choice "$OUT/hyper/$model" "lastfm_reproduction.sh search $model")
  for seed in ${SEEDS:-2020 2021 2022}; do
    python run_scripts/benchmark.py --models "$model" --teachers training --datasets lastfm --seeds "$seed" \
      --config_files $files --output $OUT/lastfm_normalizer.csv --no_table --noise_normalizer=importance \
      --checkpoint_dir="$STORE/saved" --teacher_store="$STORE/teacher_store" $choice || true
    MESSAGE="docs/results/converged: $model CSRec-T importance normaliser seed $seed" commit $OUT/lastfm_normalizer.csv $OUT/per_user
  done
  ;;
readout)
  # RecBole's NextItNet (reads the last column: padding for right-padded shorter inputs) against
  # NextItNetLastItem (reads the last item), Base, same settings and seeds.
  # The NextItNetLastItem models are the table's Base runs and CSRec-M teachers (store entries).
  for m in NextItNet NextItNetLastItem; do
    python run_scripts/benchmark.py --models $m --teachers none --datasets lastfm --seeds ${SEEDS:-2020 2021 2022} \
      --config_files docs/results/lastfm_budget.yaml docs/results/lastfm_budget_$m.yaml \
      --output $OUT/nextitnet_readout.csv --no_table --checkpoint_dir="$STORE/saved" \
      --teacher_store="$STORE/teacher_store" || true
    MESSAGE="docs/results/converged: NextItNet readout, $m Base" commit $OUT/nextitnet_readout.csv $OUT/per_user
  done
  ;;
analyses)
  choice=$(student_choice "$OUT/hyper/$model" "lastfm_reproduction.sh search $model")
  A=(--model "$model" --dataset lastfm --seeds ${SEEDS:-2020 2021 2022} --config_files $files
     --output $OUT/analyses/$model --checkpoint_dir="$STORE/saved" --teacher_store="$STORE/teacher_store" $choice)
  python run_scripts/analyze.py popularity --results $OUT/lastfm.csv --output $OUT/analyses
  python run_scripts/analyze.py length --results $OUT/lastfm.csv --output $OUT/analyses
  python run_scripts/analyze.py num_teachers --teachers model --values 1 2 3 4 --baselines none "${A[@]}" || true
  python run_scripts/analyze.py expectation "${A[@]}" || true
  python run_scripts/analyze.py sample_ratio --values 0.5 0.6 0.7 0.8 0.9 "${A[@]}" || true
  python run_scripts/analyze.py sparsity --teachers none model --values 0.0 0.15 0.3 "${A[@]}" || true
  MESSAGE="docs/results/converged: $model analyses" commit $OUT/analyses
  ;;
*)
  echo "unknown stage '$stage': accepted are search, table, bridge, allpositions, bf16, topk, normalizer, readout, analyses" >&2; exit 2 ;;
esac
