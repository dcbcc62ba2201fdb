# Shared by the reproduction scripts (sourced, not run).

commit() {  # commit only these paths; another process may hold the index lock for a moment
  [ "${COMMIT:-0}" = 1 ] || return 0
  for _ in 1 2 3 4 5 6; do
    git add -- "$@" || { sleep 5; continue; }
    git diff --cached --quiet -- "$@" && return 0  # a skipped row: nothing new to commit
    git commit -q -m "$MESSAGE" -- "$@" && return 0
    sleep 5
  done
  echo "could not commit $*" >&2
}

drop_unused_soft_labels() {  # drop_unused_soft_labels ROOT: the disk caches under ROOT that no
  # process has open or mapped (14 GB per Yelp teacher set); one another lane is building or
  # reading stays, so lanes sharing a store can run side by side
  local cache target
  for cache in "$1"/*; do
    [ -e "$cache" ] || continue
    target=$(realpath "$cache")
    find /proc/[0-9]*/fd -maxdepth 1 -lname "$target/*" 2>/dev/null | grep -q . && continue
    grep -qsF "$target/" /proc/[0-9]*/maps && continue
    rm -rf "$cache"
  done
}

student_choice() {  # student_choice DIR HOW: the beta/T the search in DIR chose, as --key=value
  local best=$1/best_config.yaml
  [ -f "$best" ] || { echo "run the search first: bash run_scripts/$2" >&2; exit 2; }
  python -c "import sys, yaml; c = yaml.safe_load(open(sys.argv[1])); print(f\"--beta={c['beta']} --temperature={c['temperature']}\")" "$best"
}

keep_trials() {  # keep_trials OUTPUT CHOSEN: a search's tables, where they are committed
  local output=$1 chosen=$2 f
  mkdir -p "$chosen"
  for f in trials.csv trials.md search.json best_config.yaml summary.txt; do
    if [ -f "$output/$f" ]; then cp "$output/$f" "$chosen/$f"; fi
  done
}

student_search() {  # student_search CHOSEN OUTPUT MESSAGE run_hyper_csrec-args...
  # The student's beta x T search, its tables kept in CHOSEN (committed). The search rewrites its
  # tables as each trial finishes (tune/progress.py); they are copied and committed every
  # KEEP_EVERY seconds (default 300), so that even a search killed outright (a session ending)
  # leaves its finished trials there; a search stopped with Ctrl+C / SIGINT to its python writes
  # and keeps them at once. The next call carries them over (--trials_from) instead of running
  # them again, even on another machine whose store and Ray state are empty.
  local chosen=$1 output=$2 message=$3 rc=0 watcher; shift 3
  if [ -f "$chosen/best_config.yaml" ]; then echo "search already done: $chosen"; return 0; fi
  local carry=()
  [ -f "$chosen/trials.csv" ] && carry=(--trials_from="$chosen")
  (
    while sleep "${KEEP_EVERY:-300}"; do
      [ -f "$output/trials.csv" ] && [ "$output/trials.csv" -nt "$chosen/trials.csv" ] || continue
      keep_trials "$output" "$chosen"
      MESSAGE="$message: finished trials so far" commit "$chosen"
    done
  ) &
  watcher=$!
  python run_hyper_csrec.py "$@" --output="$output" --resume "${carry[@]}" || rc=$?
  pkill -P "$watcher" sleep 2>/dev/null || true  # its sleep first: killed alone, it would hold
  kill "$watcher" 2>/dev/null || true           # the caller's stdout open for KEEP_EVERY seconds
  wait "$watcher" 2>/dev/null || true
  keep_trials "$output" "$chosen"
  [ $rc = 0 ] || message="$message: stopped, finished trials so far"
  MESSAGE="$message" commit "$chosen"
  return $rc
}
