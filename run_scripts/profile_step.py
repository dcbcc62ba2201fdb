"""Where a training step's time goes: torch.profiler over a few steps of the phase's own step
(the one CSRecTrainer trains with: fused output layer, all positions, as configured).

    python run_scripts/profile_step.py --model GRU4Rec --dataset yelp --config_files=<yelp.yaml ...>
        [--teacher none] [--steps 10] [--threads 1] [--key=value ...]

Prints ms per step, ms per batch of data loading, and the profiler's table (self CPU time).
docs/results/speed/profile_*.txt were made with it.
"""
from __future__ import annotations

import sys
from time import perf_counter

import torch

from recbole_csrec.anomaly import anomaly_mode
from recbole_csrec.benchmark.command_line import config_and_data, measurement_parser
from recbole_csrec.errors import exit_code
from recbole_csrec.trainer import CSRecTrainer
from recbole_csrec.lookups import get_model


def measure() -> None:
    parser = measurement_parser("profile_step.py")
    parser.add_argument("--steps", type=int, default=10)
    args, rest = parser.parse_known_args()
    config, (train_data, _, _) = config_and_data(args, rest)
    model = get_model(args.model)(config, train_data._dataset)
    trainer = CSRecTrainer(config, model, phase="profile", weights_file="", write_files=False)
    stepper = trainer._stepper(train_data)
    loader = trainer._all_position_loader(train_data) if stepper.all_positions else train_data
    optimizer = torch.optim.Adam(model.parameters(), lr=config["learning_rate"])
    warmup = 5
    start = perf_counter()
    batches = [batch for _, batch in zip(range(warmup + 2 * args.steps), loader)]
    loading = (perf_counter() - start) / len(batches)

    def step(batch) -> None:
        optimizer.zero_grad()
        loss = stepper.calculate_loss(batch)
        (sum(loss) if isinstance(loss, tuple) else loss).backward()
        optimizer.step()

    with anomaly_mode(False):
        for batch in batches[:warmup]:
            step(batch)
        start = perf_counter()
        for batch in batches[warmup:warmup + args.steps]:
            step(batch)
        per_step = (perf_counter() - start) / args.steps
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
            for batch in batches[warmup + args.steps:]:
                step(batch)
    print(f"{args.model} on {args.dataset}: batch {config['train_batch_size']}, {train_data._dataset.item_num} "
          f"items, fused_output {config['fused_output']}, all_positions {config['all_positions']}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"ms/step {1e3 * per_step:.1f}; data loading ms/batch {1e3 * loading:.1f}")
    print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    sys.exit(exit_code("profile_step.py", measure))
