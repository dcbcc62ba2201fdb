"""Cost of a student step, choice by choice: python run_scripts/step_costs.py --model NARM --dataset lastfm
(recbole_csrec.benchmark.step_costs)."""
import sys

from recbole_csrec.benchmark.step_costs import main

if __name__ == "__main__":
    sys.exit(main())
