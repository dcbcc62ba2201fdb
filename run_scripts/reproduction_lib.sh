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

student_choice() {  # student_choice DIR HOW: the beta/T the search in DIR chose, as --key=value
  local best=$1/best_config.yaml
  [ -f "$best" ] || { echo "run the search first: bash run_scripts/$2" >&2; exit 2; }
  python -c "import sys, yaml; c = yaml.safe_load(open(sys.argv[1])); print(f\"--beta={c['beta']} --temperature={c['temperature']}\")" "$best"
}

student_search() {  # student_search CHOSEN OUTPUT MESSAGE run_hyper_csrec-args...
  # The student's beta x T search, its tables kept in CHOSEN (committed). A search stopped before
  # its end (Ctrl+C / SIGINT to its python, e.g. a session ending) still leaves its finished
  # trials there: the next call carries them over (--trials_from) instead of running them again,
  # even on another machine whose store and Ray state are empty.
  local chosen=$1 output=$2 message=$3 rc=0 f; shift 3
  if [ -f "$chosen/best_config.yaml" ]; then echo "search already done: $chosen"; return 0; fi
  local carry=()
  [ -f "$chosen/trials.csv" ] && carry=(--trials_from="$chosen")
  python run_hyper_csrec.py "$@" --output="$output" --resume "${carry[@]}" || rc=$?
  mkdir -p "$chosen"
  for f in trials.csv trials.md search.json best_config.yaml summary.txt; do
    if [ -f "$output/$f" ]; then cp "$output/$f" "$chosen/$f"; fi
  done
  [ $rc = 0 ] || message="$message: stopped, finished trials so far"
  MESSAGE="$message" commit "$chosen"
  return $rc
}
