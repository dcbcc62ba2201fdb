"""Catalogue-scale costs: python run_scripts/bench_scale.py --dataset yelp --config_files=<yelp.yaml ...>
(recbole_csrec.benchmark.scale)."""
import sys

from recbole_csrec.benchmark.scale import main

if __name__ == "__main__":
    sys.exit(main())
