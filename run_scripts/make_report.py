"""python run_scripts/make_report.py --results docs/results/lastfm.csv --analyses docs/results/analyses
    [--notes docs/results/notes.md] [--output docs/results.md]"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recbole_csrec.benchmark.results_page import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
