"""python run_scripts/make_report.py --results docs/results/lastfm.csv --analyses docs/results/analyses
    [--notes docs/results/notes.md] [--output docs/results.md]
    [--hyper docs/results/converged/hyper] [--bridge docs/results/converged/bridge.csv]

--hyper: folder of <Model>/ student-search outputs (trials.csv/.md, best_config.yaml, summary.txt);
--bridge: results CSV of the runs under the authors' protocol. Each adds its section, which says
"(not run yet)" while its files are missing; a `phases` column in the results adds the phases
section (recbole_csrec/benchmark/converged_sections.py)."""
import sys

from recbole_csrec.benchmark.results_page import main

if __name__ == "__main__":
    sys.exit(main())
