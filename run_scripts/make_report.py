"""python run_scripts/make_report.py --results docs/results/lastfm.csv --analyses docs/results/analyses
    [--notes docs/results/notes.md] [--output docs/results.md]
    [--hyper docs/results/converged/hyper] [--bridge docs/results/converged/bridge.csv ...]

--hyper: folder of <Model>/ student-search outputs (trials.csv/.md, best_config.yaml, summary.txt);
--bridge: results CSVs of the runs under the authors' protocol (Last.FM's, Yelp's: a subsection
each). Each adds its section, which says "(not run yet)" while its files are missing; a `phases`
column in the results adds the phases section (run_scripts/reproduce/converged_sections.py)."""
import os
import sys

# run from a checkout: the reproduction lives beside this script, not in the installed package
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from run_scripts.reproduce.results_page import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
