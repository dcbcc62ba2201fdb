"""Hyperparameter search: python run_hyper_csrec.py --model=NARM --teacher=model --dataset=lastfm
--params_file=properties/hyper/paper_grid.yaml [--num_samples N] [--scheduler asha] [--address auto]"""
import sys

from recbole_csrec.tune.cli import main

if __name__ == "__main__":
    sys.exit(main())
