"""Speed benchmark: python run_scripts/bench_speed.py --model GRU4Rec --dataset ml --teacher model
[--epochs 3] [--threads 1] [--output docs/performance.md] [--key=value ...]
(recbole_csrec.benchmark.speed: RecBole as shipped, Base, and the CSRec student side by side)."""
import sys

from recbole_csrec.benchmark.speed import main

if __name__ == "__main__":
    sys.exit(main())
