"""Full-ranking evaluation speed: RecBole's Trainer against CSRecTrainer on the same model and
validation data, measured interleaved, beside the floor (the score matrix and its top-k alone).

    python run_scripts/bench_eval.py --model GRU4Rec --dataset yelp --config_files=<yelp.yaml ...>
        [--repeats 3] [--threads 1] [--key=value ...]

Prints seconds per validation of each, `eval csrec/recbole ratio: R` and
`eval csrec/floor ratio: R` (the floor: full_sort_predict and torch.topk over every batch), and
checks that both trainers report the same metrics (bit-identical).
"""
from __future__ import annotations

import sys
from time import perf_counter

import torch
from recbole.trainer import Trainer

from recbole_csrec.anomaly import anomaly_mode
from recbole_csrec.benchmark.command_line import config_and_data, measurement_parser
from recbole_csrec.errors import CSRecError, exit_code
from recbole_csrec.trainer import CSRecTrainer
from recbole_csrec.lookups import get_model


def floor_seconds(model, valid_data, k: int) -> float:
    """The evaluation's irreducible work: every batch's scores and their top-k."""
    start = perf_counter()
    with torch.no_grad():
        for interaction, _, _, _ in valid_data:
            torch.topk(model.full_sort_predict(interaction), k, dim=-1)
    return perf_counter() - start


def measure() -> None:
    parser = measurement_parser("bench_eval.py", dataset="ml", threads=0)
    parser.add_argument("--repeats", type=int, default=3)
    args, rest = parser.parse_known_args()
    config, (_, valid, _) = config_and_data(args, rest)
    model = get_model(args.model)(config, valid._dataset).to(config["device"]).eval()
    trainers = {"recbole": Trainer(config, model),
                "csrec": CSRecTrainer(config, model, phase="timing", weights_file="", write_files=False)}
    seconds = {name: [] for name in (*trainers, "floor")}
    results = {}
    with anomaly_mode(False):
        for _ in range(args.repeats):
            for name, trainer in trainers.items():
                start = perf_counter()
                results[name] = trainer.evaluate(valid, load_best_model=False)
                seconds[name].append(perf_counter() - start)
            seconds["floor"].append(floor_seconds(model, valid, max(config["topk"])))
    if results["recbole"] != results["csrec"]:
        raise CSRecError(f"the trainers disagree: RecBole {dict(results['recbole'])} vs CSRec {dict(results['csrec'])}")
    best = {name: min(values) for name, values in seconds.items()}
    print(f"{args.model} on {args.dataset}: {len(valid._dataset)} validation rows x {valid._dataset.item_num} "
          f"items, eval batch {config['eval_batch_size']}, torch threads {torch.get_num_threads()}, "
          f"best of {args.repeats}")
    for name, value in best.items():
        print(f"{name}: {value:.2f} s per validation")
    print("metrics identical: yes")
    print(f"eval csrec/recbole ratio: {best['csrec'] / best['recbole']:.2f}")
    print(f"eval csrec/floor ratio: {best['csrec'] / best['floor']:.2f}")


if __name__ == "__main__":
    sys.exit(exit_code("bench_eval.py", measure))
