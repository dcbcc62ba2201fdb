# Shared by the device lane scripts (sourced, not run): the image's missing packages, lanes in
# process groups of their own, the deadline, and packing what comes back into $OUT.
# Everything they run is this repository's code, unchanged; .devrun/ (ignored by git) is what the
# call carries: wheels, the numpy-2 shim, data and store entries (each script's header lists them).

lanes_setup() {  # the image's Python gets RecBole and its pins; a smoke test of the device path
  T0=$(date +%s); L=/tmp/lanes; mkdir -p $L; : > $L/pids
  local whl
  whl=$(ls .devrun/whl/*.whl)
  # pandas only where the image's is 3.x (RecBole 1.2.1 needs pandas<3; see the traps note)
  if python3 -c "import pandas, sys; sys.exit(0 if pandas.__version__.startswith('2.') else 1)" 2>/dev/null; then
    whl=$(ls .devrun/whl/*.whl | grep -v pandas)
  fi
  [ -n "${PIP_SKIP:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site $whl || exit 3
  export PYTHONPATH=$PWD/.devrun/shim:/tmp/site:$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
  python3 -c "import torch, numpy, pandas, recbole, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu', numpy.__version__, pandas.__version__, recbole.__version__)" 2>&1 | tee $L/env.txt
  touch /tmp/marker
  (nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 20 > $L/gpu_util.csv 2>&1 &)
  (timeout 300 python3 -m pytest -q -p no:cacheprovider tests/test_device.py > $L/smoke.txt 2>&1; echo "rc=$?" >> $L/smoke.txt) &
}

lane() {  # lane NAME COMMAND...: runs as a job of its own (monitor mode): a process group that
  # the stop reaches whole, and nothing else on the machine. SIGINT is set back to its default
  # first: a command started in the background of a script (or under nohup, or by a runner that
  # ignores it) inherits SIGINT ignored, which bash cannot undo, and its python would not stop
  local name=$1; shift
  set -m
  python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
    "$@" > "$L/$name.log" 2>&1 &
  echo $! >> $L/pids
  set +m
}

lanes_alive() {
  local pid
  for pid in $(cat $L/pids); do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}

lanes_wait() {  # lanes_wait DEADLINE: until every lane ends, or SIGINT at DEADLINE seconds after setup
  # (a phase in flight is lost; rows and store entries already written are complete: both are
  # written atomically; a search's finished trials are written on SIGINT, within GRACE seconds)
  local deadline=$1 pid
  while lanes_alive; do
    [ $(( $(date +%s) - T0 )) -ge "$deadline" ] && break
    sleep 1
  done
  # SIGINT to each lane's python processes only: their shells then go on to keep what landed (a
  # search's trials); a shell interrupted itself would stop there
  for pid in $(cat $L/pids); do pkill -INT -g "$pid" "^python"; done
  for _ in $(seq "${GRACE:-30}"); do lanes_alive || break; sleep 1; done
  for pid in $(cat $L/pids); do kill -KILL -- -"$pid" 2>/dev/null; done
  pkill nvidia-smi || true
  echo "lanes stopped at $(( $(date +%s) - T0 )) s"
}

lanes_pack() {  # lanes_pack MODEL...: results, logs and new store entries (MODEL order = priority)
  local results=docs/results/converged
  find $results -newer /tmp/marker -type f ! -path "*/sparsity_data/*" > /tmp/changed.txt
  tar czf "$OUT/results.tgz" -T /tmp/changed.txt
  tail -n 3 $L/*.log > $L/tails.txt 2>&1
  tar czf "$OUT/logs.tgz" -C /tmp lanes
  python3 run_scripts/device/pack_store.py --store .devrun/store/teacher_store --since /tmp/marker \
    --output "$OUT" --models "$@"
  echo "=== env"; cat $L/env.txt; echo "=== smoke"; tail -5 $L/smoke.txt
  echo "=== tails"; cut -c1-300 $L/tails.txt
  echo "done at $(( $(date +%s) - T0 )) s"
}
