"""python run_scripts/make_report.py --results docs/results/lastfm.csv --analyses docs/results/analyses
    [--notes docs/results/notes.md] [--output docs/results.md]"""
import sys

from recbole_csrec.benchmark.results_page import main

if __name__ == "__main__":
    sys.exit(main())
