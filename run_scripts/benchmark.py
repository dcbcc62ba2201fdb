"""python run_scripts/benchmark.py --models GRU4Rec NARM --teachers none pop model data \
    --datasets ml --seeds 2020 2021 [--config_files a.yaml] [--output results/] [--epochs=50 ...]"""
import sys

from recbole_csrec.benchmark.runner import main

if __name__ == "__main__":
    sys.exit(main())
