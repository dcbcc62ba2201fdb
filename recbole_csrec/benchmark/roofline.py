"""How close a training step comes to this machine's limits: a short probe of the machine's GEMM
rate and memory bandwidth, the FLOPs of one step counted by torch, and the bytes the output
layer moves by an analytic model. Used by the speed benchmark (benchmark/speed.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from recbole_csrec.model.output_layer import BLOCK_ELEMENTS

_FP32 = 4
CACHE_BYTES = 8 * 2 ** 20  # last-level cache of the project's 2-core CPU: passes over less stay in it


@dataclass
class MachineRates:
    gemm_flops: float       # FLOP/s of a square fp32 matmul (the best of a few)
    bf16_gemm_flops: float  # the same in bf16; 0 when not measured (no bf16 units)
    bandwidth: float        # bytes/s of a large tensor copy (read + write counted)
    threads: int

    def describe(self) -> str:
        bf16 = f", bf16 GEMM {self.bf16_gemm_flops / 1e9:.0f} GFLOP/s" if self.bf16_gemm_flops else ""
        return (f"probe ({self.threads} torch threads): fp32 GEMM {self.gemm_flops / 1e9:.1f} GFLOP/s{bf16}, "
                f"memory bandwidth {self.bandwidth / 1e9:.1f} GB/s")


def _best_seconds(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def probe_machine(size: int = 1024, copy_mb: int = 256, bf16: bool = False) -> MachineRates:
    """fp32 (and, with `bf16`, bf16) GEMM rate of a size^3 matmul and the bandwidth of a
    copy_mb MB copy, each the best of a few repeats (about a second in all on a 2-core CPU)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    gemm = 2.0 * size ** 3 / _best_seconds(lambda: a @ b, 5)
    bf16_rate = 0.0
    if bf16:
        ab, bb = a.bfloat16(), b.bfloat16()
        bf16_rate = 2.0 * size ** 3 / _best_seconds(lambda: ab @ bb, 5)
    src = torch.empty(copy_mb * 2 ** 20 // _FP32).fill_(1.0)
    dst = torch.empty_like(src)
    bandwidth = 2.0 * src.numel() * _FP32 / _best_seconds(lambda: dst.copy_(src), 3)
    return MachineRates(gemm, bf16_rate, bandwidth, torch.get_num_threads())


def step_flops(model, batch) -> float:
    """FLOPs of one training step (forward + backward of calculate_loss), as torch counts them
    (matmul-class operations: the GRU's cells, attention, the output layer)."""
    with FlopCounterMode(display=False) as counter:
        loss = model.calculate_loss(batch)
        (sum(loss) if isinstance(loss, tuple) else loss).backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def output_layer_bytes(rows: int, n_items: int, dim: int, fused: bool) -> float:
    """Bytes the output layer and its loss move per step (analytic, fp32): W read by each of the
    three matmuls and dW written, plus every pass over [rows x items] logits that does not stay
    in cache. Unfused (RecBole's CE): the logits written, log-softmax reads them twice and writes
    its output, NLL's backward writes a zero-filled gradient, log-softmax's backward reads two
    tensors and writes one, and the two gradient matmuls read it: 10 passes. Fused: the block is
    written, read by the row max, read and written by the shift and by exp, read by the row sum,
    read and written by the normalisation, and read by both matmuls: 11 passes, of which none
    leave the cache when a block fits in it (not counted then)."""
    weight = 4 * n_items * dim * _FP32
    passes = 11 if fused else 10
    block_rows = min(rows, max(1, BLOCK_ELEMENTS // n_items)) if fused else rows
    spills = block_rows * n_items * _FP32 > CACHE_BYTES
    return weight + (passes * rows * n_items * _FP32 if spills else 0.0)


def time_output_layer(rows: int, n_items: int, dim: int, bf16: bool, repeats: int = 20) -> dict[str, float]:
    """Seconds (median) of the output layer and its CE alone, forward + backward, at these shapes:
    RecBole's path (matmul, then CE on the logits), the fused layer, and (with `bf16`) the fused
    layer in bf16; measured interleaved, so that machine noise hits each alike. Also the peak
    bytes each allocates above its inputs (PeakMemory)."""
    from recbole_csrec.benchmark.memory import PeakMemory
    from recbole_csrec.model.output_layer import ItemScores, fused_cross_entropy

    torch.manual_seed(0)
    hidden = torch.randn(rows, dim, requires_grad=True)
    weight = (0.1 * torch.randn(n_items, dim)).requires_grad_()
    target = torch.randint(1, n_items, (rows,))
    variants = {
        "unfused": lambda: torch.nn.functional.cross_entropy(hidden @ weight.t(), target).backward(),
        "fused": lambda: fused_cross_entropy(ItemScores(hidden, weight), target).backward(),
    }
    if bf16:
        variants["bf16 fused"] = lambda: fused_cross_entropy(ItemScores(hidden, weight), target, bf16=True).backward()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for step in range(repeats + 2):
        for name, run in variants.items():
            hidden.grad = weight.grad = None
            start = time.perf_counter()
            run()
            if step >= 2:
                times[name].append(time.perf_counter() - start)
    result = {name: sorted(values)[len(values) // 2] for name, values in times.items()}
    from recbole_csrec.benchmark.memory import GLIBC_MMAP_THRESHOLD, use_measurable_allocator

    use_measurable_allocator()  # RSS follows large tensors (after the timing: it slows them)
    for name, run in variants.items():
        hidden.grad = weight.grad = None
        with PeakMemory(torch.device("cpu")) as memory:
            run()
        result[f"{name} peak bytes"] = float(memory.peak)
    use_measurable_allocator(GLIBC_MMAP_THRESHOLD)
    return result


def _steps(phase) -> int:
    loader = phase.train_data
    if phase.trainer._stepper(loader).all_positions:
        loader = phase.trainer._all_position_loader(loader)
    return len(loader)


def _first_batch(phase, per_row_batch):
    loader = phase.trainer._all_position_loader(phase.train_data) \
        if phase.trainer._stepper(phase.train_data).all_positions else None
    return next(iter(loader)) if loader is not None else per_row_batch


def speed_figures(phases, by_name: dict, batch, rates: MachineRates, batch_size: int, n_items: int,
                  bf16_ok: bool, bf16_found: str, all_positions_ok: bool) -> dict:
    """Per phase: step seconds, counted FLOPs, analytic output-layer bytes and their fractions of
    the probe's rates; the output layer alone (fused vs unfused); the ratios the issue's targets
    name. Plain numbers, for the doc's raw JSON."""
    dim = int(by_name["Base"].model.backbone.item_embedding.weight.size(1))
    roofline = {}
    for phase in phases:
        if phase.name == "RecBole as shipped":
            continue
        step = phase.per_epoch / max(1, _steps(phase))
        flops = step_flops(phase.model, _first_batch(phase, batch))
        fused = phase.model.fused_output
        moved = output_layer_bytes(batch_size, n_items, dim, fused)
        roofline[phase.name] = {
            "step_ms": 1e3 * step, "gflop_per_step": flops / 1e9, "gflops": flops / step / 1e9,
            "gemm_fraction": flops / step / (rates.bf16_gemm_flops if phase.model._recorder.bf16 else rates.gemm_flops),
            "output_layer_mb_per_step": moved / 2 ** 20, "bandwidth_fraction": moved / step / rates.bandwidth,
        }
    alone = time_output_layer(batch_size, n_items, dim, bf16_ok)
    base, unfused = by_name["Base"].per_epoch, by_name["Base, unfused"].per_epoch
    figures = {
        "probe": {"gemm_gflops": rates.gemm_flops / 1e9, "bf16_gemm_gflops": rates.bf16_gemm_flops / 1e9,
                  "bandwidth_gbs": rates.bandwidth / 1e9, "threads": rates.threads},
        "roofline": roofline, "output_layer_alone": alone,
        "output_layer_ratio": alone["fused"] / alone["unfused"],
        "fused_unfused_ratio": base / unfused,
        "bf16_ratio": by_name["Base, bf16"].per_epoch / unfused if bf16_ok else None, "bf16_found": bf16_found,
        "gemm_fraction": roofline["Base"]["gemm_fraction"],
    }
    if all_positions_ok:
        all_base = by_name["Base, all positions"].per_epoch
        figures.update(all_positions_ratio=all_base / unfused, all_positions_fused_ratio=all_base / base)
        student_all = by_name.get("CSRec student, cached, all positions")
        figures["student_all_positions_ratio"] = student_all.per_epoch / all_base if student_all else None
    return figures


def ratio_lines(r: dict) -> list[str]:
    """The benchmark's last lines: each a ratio of two epochs (or steps) measured in this run."""
    na = lambda why: f"n/a ({why})"  # noqa: E731
    alone = r["output_layer_alone"]
    lines = [
        f"output layer alone fused/unfused ratio: {r['output_layer_ratio']:.2f} "
        f"(peak MB fused {alone['fused peak bytes'] / 2 ** 20:.1f}, unfused {alone['unfused peak bytes'] / 2 ** 20:.1f})",
        f"fused/unfused step ratio: {r['fused_unfused_ratio']:.2f}",
        "bf16 fused/unfused step ratio: " + (f"{r['bf16_ratio']:.2f}" if r["bf16_ratio"] is not None
                                               else na(r["bf16_found"] + ": bf16 runs fp32 here")),
        "all_positions/per_row epoch ratio: " + (f"{r['all_positions_ratio']:.2f}" if "all_positions_ratio" in r
                                                  else na(f"{r['model']} is not causal")),
        f"student/base epoch ratio: {r['ratio']:.2f}",
    ]
    if r.get("student_all_positions_ratio") is not None:
        lines.append(f"student/base epoch ratio (all positions): {r['student_all_positions_ratio']:.2f}")
    lines.append(f"gemm fraction: {r['gemm_fraction']:.2f}")
    return lines


def roofline_table(r: dict) -> list[str]:
    """One row per timed phase: its step against the machine's limits."""
    probe = r["probe"]
    rows = [f"Machine limits ({probe['threads']} torch threads): fp32 GEMM {probe['gemm_gflops']:.1f} GFLOP/s"
            + (f", bf16 GEMM {probe['bf16_gemm_gflops']:.0f} GFLOP/s" if probe["bf16_gemm_gflops"] else "")
            + f", copy bandwidth {probe['bandwidth_gbs']:.1f} GB/s.", "",
            "| phase | ms/step | GFLOP/step | GFLOP/s | of GEMM | output layer MB/step | of bandwidth |",
            "|---|---|---|---|---|---|---|"]
    for name, x in r["roofline"].items():
        rows.append(f"| {name} | {x['step_ms']:.1f} | {x['gflop_per_step']:.3f} | {x['gflops']:.1f} | "
                    f"{x['gemm_fraction']:.2f} | {x['output_layer_mb_per_step']:.1f} | {x['bandwidth_fraction']:.2f} |")
    return rows
