"""python run_scripts/aggregate.py results/results.csv [my_recbole_runs.csv] [--output stem]"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recbole_csrec.benchmark.aggregate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
