"""python run_scripts/analyze.py {popularity,length,sparsity,num_teachers,sample_ratio,expectation} ...

See `python run_scripts/analyze.py <analysis> --help`."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recbole_csrec.benchmark.analyses import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
