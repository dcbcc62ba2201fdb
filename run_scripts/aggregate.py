"""python run_scripts/aggregate.py results/results.csv [my_recbole_runs.csv] [--output stem]"""
import sys

from recbole_csrec.benchmark.aggregate import main

if __name__ == "__main__":
    sys.exit(main())
