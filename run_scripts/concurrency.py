"""Four processes on one teacher store (two students reading one disk cache, one building
another, one deleting an old run), checked against the same runs one after another:
python run_scripts/concurrency.py --dataset yelp --data_path DIR --config_files "..." [--soft_label_cache_mb=1024]
(machinery: recbole_csrec.benchmark.concurrency)"""
import sys

from recbole_csrec.benchmark.concurrency import main

if __name__ == "__main__":
    sys.exit(main())
