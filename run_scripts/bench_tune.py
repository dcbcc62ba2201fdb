"""Benchmark: the 12-point beta x T grid for CSRec-M, with and without teacher reuse.

    python run_scripts/bench_tune.py [--model GRU4Rec] [--epochs 3]
        [--users 400] [--items 300] [--length 30] [--num_cpus 2] [--output results/bench_tune]

Both searches run here, one after the other, on the same synthetic dataset (users walking a
noisy item chain, written under <output>/data) with the same Ray resources. "with reuse"
starts from an empty teacher store, so it includes training the two teachers once.
Prints both wall times and their ratio (target: with reuse <= 0.45x without).
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from time import time

from recbole_csrec.atomic import write_atomic
from recbole_csrec.data.synthetic import write_chain_dataset
from recbole_csrec.overrides import OneLineParser
from recbole_csrec.tune import run_hyper_csrec
from recbole_csrec.errors import exit_code

DATASET = "benchseq"


def run() -> None:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="GRU4Rec")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--length", type=int, default=30)
    parser.add_argument("--num_cpus", type=int, default=2)
    parser.add_argument("--output", default=os.path.join("results", "bench_tune"))
    args = parser.parse_args()

    output = os.path.abspath(args.output)
    shutil.rmtree(output, ignore_errors=True)
    data_path = write_chain_dataset(os.path.join(output, "data"), DATASET, args.users, args.items,
                                    args.length)
    fixed = {
        "data_path": data_path, "epochs": args.epochs, "stopping_step": args.epochs,
        "train_batch_size": 256, "eval_batch_size": 1024, "MAX_ITEM_LIST_LENGTH": 20,
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "state": "WARNING", "show_progress": False, "num_teachers": 2,
        "preset": "paper",  # a synthetic dataset: the paper's training settings, as on ml/lastfm
    }
    timings = {}
    for label, reuse in (("with reuse", True), ("without reuse", False)):
        start = time()
        result = run_hyper_csrec(model=args.model, dataset=DATASET, teacher="model",
                                 params_file="properties/hyper/paper_grid.yaml",
                                 fixed={**fixed, "reuse_teachers": reuse},
                                 output=os.path.join(output, label.replace(" ", "_")),
                                 num_cpus=args.num_cpus)
        timings[label] = {"seconds": time() - start, "trials": len(result["rows"]),
                          "failed": result["failed"], "best": result["best_params"],
                          "best_valid": result["best_valid_score"]}
        print(f"{label}: {timings[label]['seconds']:.1f}s for {len(result['rows'])} trials")
    ratio = timings["with reuse"]["seconds"] / timings["without reuse"]["seconds"]
    report = {"command": " ".join(sys.argv), "args": vars(args), "timings": timings, "ratio": ratio,
              "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                         f"{os.cpu_count()} CPUs visible"}
    write_atomic(os.path.join(output, "bench_tune.json"), json.dumps(report, indent=1, default=str))
    print(f"with reuse {timings['with reuse']['seconds']:.1f}s | without reuse "
          f"{timings['without reuse']['seconds']:.1f}s | ratio {ratio:.2f} (target <= 0.45)")


def main() -> int:
    return exit_code("bench_tune.py", run)


if __name__ == "__main__":
    sys.exit(main())
