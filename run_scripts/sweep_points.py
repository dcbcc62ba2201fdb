"""python run_scripts/sweep_points.py RUNS_CSV A B: two points of a sweep and both tests (see
run_scripts/reproduce/sweep_points.py)."""
import os
import sys

# run from a checkout: the reproduction lives beside this script, not in the installed package
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from run_scripts.reproduce.sweep_points import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
