"""python run_scripts/analyze.py {popularity,length,sparsity,num_teachers,sample_ratio,expectation} ...

See `python run_scripts/analyze.py <analysis> --help`."""
import sys

from recbole_csrec.benchmark.analyses import main

if __name__ == "__main__":
    sys.exit(main())
