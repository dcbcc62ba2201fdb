"""Kill experiments at random moments and check that a rerun ends as an uninterrupted run:
python run_scripts/fault_injection.py [--trials 20] [--seed 0]  (machinery: recbole_csrec.benchmark.faults)"""
import sys

from recbole_csrec.benchmark.faults import main

if __name__ == "__main__":
    sys.exit(main())
