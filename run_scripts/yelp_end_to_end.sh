#!/usr/bin/env bash
# Yelp end to end (issue 29, part 6): the README's prepare command, then every teacher kind (none,
# pop, model, data, training) for GRU4Rec through the runner, 2 epochs per phase, with the
# package's defaults otherwise (so the soft labels take their default path: over 2 GB, the disk
# cache under the teacher store). One row per kind in $OUT (default
# docs/results/yelp_end_to_end.csv) with its peak RSS; the log says which soft-label path and which
# CSRec-T normaliser ran.
#
#   bash run_scripts/yelp_end_to_end.sh            # YELP_TXT, DATA, STORE, OUT as below
set -euo pipefail
cd "$(dirname "$0")/.."
YELP_TXT=${YELP_TXT:-../shared/data/yelp/Yelp.txt}
DATA=${DATA:-dataset}
STORE=${STORE:-results/yelp_end_to_end}
OUT=${OUT:-docs/results/yelp_end_to_end.csv}
[ -f "$DATA/yelp/manifest.json" ] || python -m recbole_csrec.prepare_cli --input "$YELP_TXT" --format sequences \
  --name yelp --window 10 --output-dir "$DATA"
for teacher in ${TEACHERS:-none pop model data training}; do
  python run_scripts/benchmark.py --models GRU4Rec --teachers "$teacher" --datasets yelp --seeds 2020 \
    --config_files "$DATA/yelp/yelp.yaml" --data_path="$DATA" --epochs=2 --output "$OUT" --no_table \
    --checkpoint_dir="$STORE/saved" --teacher_store="$STORE/teacher_store" --show_progress=False
done
