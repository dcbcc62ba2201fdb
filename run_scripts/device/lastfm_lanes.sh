#!/usr/bin/env bash
# The one device call behind the H200 rows of docs/results/converged (2026-11-29): SASRec CSRec-T x
# seeds 2020-2022, GRU4Rec's sweeps (seed 2020) and NARM's 30% sparsity point, as parallel lanes
# on one GPU (16 cores), stopped at DEADLINE seconds; results, logs and the new teacher-store
# entries are then packed into $OUT, for merging into this checkout's files and store.
#
# Prepared on this machine, in the repository root (.devrun/ is listed in .git/info/exclude):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 -d .devrun/whl recbole==1.2.1 colorlog==4.7.2 texttable \
#     pandas==2.3.3 pytz tzdata           # what the device image lacks (it has torch 2.11+cu130)
#   cp -r run_scripts/device/numpy2_shim .devrun/shim
#   mkdir -p .devrun/store/teacher_store  # + the store entries the lanes reuse (SASRec side teachers)
# and run there with .devrun and dataset/lastfm carried:
#   OUT=<folder> bash run_scripts/device/lastfm_lanes.sh
# The image has numpy 2; .devrun/shim/sitecustomize.py restores the three aliases RecBole 1.2.1's
# Config reads (see that file). Everything else is this repository's code, unchanged.
# At the deadline it stops every analyze.py/benchmark.py process on the machine: run it only on
# a machine of its own (the device), never beside other lanes.
set -u
cd "$(dirname "$0")/../.."
T0=$(date +%s)
DEADLINE=${DEADLINE:-540}
L=/tmp/lanes; mkdir -p $L
# pandas only where the image's is 3.x (RecBole 1.2.1 needs pandas<3; see the traps note)
whl=$(ls .devrun/whl/*.whl)
if python3 -c "import pandas, sys; sys.exit(0 if pandas.__version__.startswith('2.') else 1)" 2>/dev/null; then
  whl=$(ls .devrun/whl/*.whl | grep -v pandas)
fi
[ -n "${PIP_SKIP:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $whl || exit 3
export PYTHONPATH=$PWD/.devrun/shim:/tmp/site:$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
python3 -c "import torch, numpy, pandas, recbole, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available(), torch.cuda.get_device_name(0), numpy.__version__, pandas.__version__, recbole.__version__)" 2>&1 | tee $L/env.txt
touch /tmp/marker
(nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 20 > $L/gpu_util.csv 2>&1 &)
(timeout 300 python3 -m pytest -q -p no:cacheprovider tests/test_device.py > $L/smoke.txt 2>&1; echo "rc=$?" >> $L/smoke.txt) &

export STORE=.devrun/store
ST=(--checkpoint_dir=$STORE/saved --teacher_store=$STORE/teacher_store)
for s in 2020 2021 2022; do
  SEEDS=$s TEACHERS=training bash run_scripts/lastfm_reproduction.sh table SASRec > $L/sasrec_T_$s.log 2>&1 &
done
G=(--model GRU4Rec --dataset lastfm --seeds 2020 --config_files docs/results/lastfm_budget.yaml
   docs/results/lastfm_budget_GRU4Rec.yaml --output docs/results/converged/analyses/GRU4Rec "${ST[@]}"
   --beta=0.75 --temperature=6)
an() { local log=$1; shift; python3 run_scripts/analyze.py "$@" > $L/$log.log 2>&1; }
an gru_m12 num_teachers --teachers model --values 1 2 --baselines none "${G[@]}" &
an gru_m34 num_teachers --teachers model --values 3 4 "${G[@]}" &
an gru_expect expectation "${G[@]}" &
an gru_p56 sample_ratio --values 0.5 0.6 "${G[@]}" &
an gru_p79 sample_ratio --values 0.7 0.9 "${G[@]}" &
an gru_sp15 sparsity --teachers none model --values 0.15 "${G[@]}" &
an gru_sp30 sparsity --teachers none model --values 0.3 "${G[@]}" &
N=(--model NARM --dataset lastfm --seeds 2020 --config_files docs/results/lastfm_budget.yaml
   docs/results/lastfm_budget_NARM.yaml --output docs/results/converged/analyses/NARM "${ST[@]}"
   --beta=0.75 --temperature=6)
an narm_sp30 sparsity --teachers none model --values 0.3 "${N[@]}" &

sleep 10
# wait for every lane, or stop them all at the deadline (a phase in flight is lost; rows and store
# entries already written are complete: both are written atomically)
while pgrep -f "run_scripts/(analyze|benchmark).py" > /dev/null; do
  [ $(( $(date +%s) - T0 )) -ge $DEADLINE ] && break
  sleep 5
done
pkill -INT -f "run_scripts/(analyze|benchmark).py"; sleep 4
pkill -KILL -f "run_scripts/(analyze|benchmark).py"; pkill -f lastfm_reproduction.sh; pkill nvidia-smi
echo "lanes stopped at $(( $(date +%s) - T0 )) s"

# pack: results (rows, per-user files, sweeps), logs, then new store entries by priority
R=docs/results/converged
find $R -newer /tmp/marker -type f ! -path "*/sparsity_data/*" > /tmp/changed.txt
tar czf $OUT/results.tgz -T /tmp/changed.txt
tail -n 3 $L/*.log > $L/tails.txt 2>&1
tar czf $OUT/logs.tgz -C /tmp lanes
python3 - <<'EOF'
import json, os, tarfile
root = ".devrun/store/teacher_store"; out = os.environ["OUT"]
marker = os.path.getmtime("/tmp/marker")
entries = []
for key in os.listdir(root):
    folder = os.path.join(root, key)
    if key.startswith(".") or key == "soft_labels" or not os.path.isfile(os.path.join(folder, "manifest.json")):
        continue
    if os.path.getmtime(folder) < marker:
        continue
    m = json.load(open(os.path.join(folder, "manifest.json")))
    model, objective = m["fields"]["model"], m["fields"].get("objective", "")
    rank = (0 if model == "SASRec" else 1 if model == "GRU4Rec" else 2, objective == "csrec-student")
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    entries.append((rank, size, key))
entries.sort()
budget, chunk, used, n = 15 * 2 ** 20, [], 0, 0
def flush():
    global chunk, used, n
    if chunk:
        with tarfile.open(os.path.join(out, f"store_{n}.tar"), "w") as tar:
            for key in chunk:
                tar.add(os.path.join(root, key), arcname=key)
        n += 1
    chunk, used = [], 0
packed = 0
for _, size, key in entries:
    if used + size > budget:
        flush()
        if n >= 5:
            break
    chunk.append(key); used += size; packed += 1
if n < 5:
    flush()
print(f"store: {len(entries)} new entries, {packed} packed into {n} tar files")
EOF
echo "=== env"; cat $L/env.txt; echo "=== smoke"; tail -5 $L/smoke.txt; echo "=== tails"; cat $L/tails.txt | cut -c1-300
echo "done at $(( $(date +%s) - T0 )) s"
