"""python run_scripts/sweep_points.py RUNS_CSV A B: two points of a sweep and both tests (see
recbole_csrec/benchmark/sweep_points.py)."""
import sys

from recbole_csrec.benchmark.sweep_points import main

if __name__ == "__main__":
    sys.exit(main())
