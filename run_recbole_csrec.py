"""Run one CSRec experiment: python run_recbole_csrec.py --model=NARM --teacher=data --dataset=ml"""
import sys

from recbole_csrec.cli import main

if __name__ == "__main__":
    sys.exit(main())
