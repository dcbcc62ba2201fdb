"""python run_scripts/analyze.py {popularity,length,sparsity,num_teachers,sample_ratio,expectation} ...

See `python run_scripts/analyze.py <analysis> --help`."""
import os
import sys

# run from a checkout: the reproduction lives beside this script, not in the installed package
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from run_scripts.reproduce.analyses import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
