"""python run_scripts/benchmark.py --models GRU4Rec NARM --teachers none pop model data \
    --datasets ml --seeds 2020 2021 [--config_files a.yaml] [--output results/] [--epochs=50 ...]"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recbole_csrec.benchmark.runner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
