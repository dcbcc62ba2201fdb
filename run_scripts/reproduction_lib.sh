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
