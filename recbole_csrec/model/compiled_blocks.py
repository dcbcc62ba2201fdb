"""`compiled_loss: True`: the student's fused block (forward KL) compiled by torch.compile
(Inductor) into a few loops over the block.

Eager PyTorch makes one pass over the [rows x |I|] block per operation: CE's block makes ~5, in
place; the student's objective ~12, and it also reads the soft labels (fp16), converts them and
exponentiates them. Compiled, the rowwise max, the shifted exp with its sum, the soft labels' dot
product and the gradient are fused into a few loops (docs/performance.md has the measurements).
CE's in-place eager block is as fast as a compiled one here (a compiled block writes a new
gradient tensor), so Base and the teachers keep it.

Same formulas as model/output_layer.py's eager block (to float rounding: the compiled loops sum
in another order); the few per-row and per-target operations (gathers, the target's scatter, the
loss sums) stay eager. Each block shape compiles once per process (15-30 s on one CPU core): shapes
are static, since the dynamic-shape kernels measured slower, and a block's rows are padded up to a
multiple of ROW_BUCKET, so that a run compiles a few shapes however its row counts vary
(all_positions batches hold whole windows: 240, 251, ... rows; torch stops compiling a function
after 8 shapes). Where torch.compile cannot run (no C++ compiler, an unsupported
platform), one warning and the eager formulas for the rest of the process (the student's block
and the CSRec-T main teacher's terms alike).
"""
from __future__ import annotations

from logging import getLogger
from typing import Callable

import torch

from recbole_csrec.loss import log1mexp, neg_entropy_of_soft_label
from recbole_csrec.soft_labels.base import SoftLabelBatch

BlockFn = Callable[[torch.Tensor, slice], tuple[torch.Tensor, torch.Tensor]]
ROW_BUCKET = 64  # block rows are padded to a multiple of this before the compiled math


def bucket_rows(*blocks: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The blocks with zero rows appended up to a multiple of ROW_BUCKET (their own rows first)."""
    rows = blocks[0].shape[0]
    extra = -rows % ROW_BUCKET
    if not extra:
        return blocks
    return tuple(torch.nn.functional.pad(b, (0, 0, 0, extra)) for b in blocks)


def _student_math(z: torch.Tensor, log_q: torch.Tensor, beta: float):
    """The forward-KL objective's passes (see output_layer._forward_kl_block): the gradient of the
    real columns without the target's term, lse over all columns, lse over the real ones,
    sum_{j>=1} q_j z_j, and the padding column's softmax and q."""
    q = log_q.float().exp()
    z_pad, q_pad = z[:, :1], log_q[:, :1].float().exp()  # recomputed: a view of q would make the
    q_dot_z = (q * z).sum(dim=1, keepdim=True) - q_pad * z_pad  # whole q an output (20 MB written)
    row_max = z.amax(dim=1, keepdim=True)
    e = (z - row_max).exp()
    row_sum = e.sum(dim=1, keepdim=True)
    lse = row_max + row_sum.log()
    lse_real = lse + log1mexp(z_pad - lse)
    dz = e * (((1.0 - beta) + beta * torch.exp(lse - lse_real)) / row_sum) - (0.5 * beta) * q
    return dz, lse, lse_real, q_dot_z, (z_pad - row_max).exp() / row_sum, q_pad


class _Compiled:
    """torch.compile of the math functions, made on first use; eager after a failure."""

    def __init__(self) -> None:
        self._functions: dict[Callable, Callable] = {}
        self.failed: str | None = None

    def __call__(self, function: Callable, *args):
        if self.failed is None:
            compiled = self._functions.get(function)
            if compiled is None:
                compiled = self._functions[function] = torch.compile(function, dynamic=False)
            try:
                return compiled(*args)
            except Exception as error:  # torch.compile's failures have no common base class
                self.failed = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                getLogger().warning(f"compiled_loss: torch.compile cannot run here ({self.failed}); "
                                    "the eager formulas are used")
        return function(*args)


COMPILED = _Compiled()


def compiled_forward_kl_block(target: torch.Tensor, soft_labels: SoftLabelBatch, beta: float) -> BlockFn:
    """output_layer._forward_kl_block, compiled. Parts: (objective, CE)."""
    def block_fn(z: torch.Tensor, block: slice) -> tuple[torch.Tensor, torch.Tensor]:
        index = target[block].unsqueeze(1)
        log_q = soft_labels.log_probs[block]
        log_q_t = log_q.gather(1, index).float()
        if soft_labels.q_log_q is not None:
            q_log_q = soft_labels.q_log_q[block].float()
        else:  # the on-the-fly and `probs` sources hand no entropy: one eager pass
            q_log_q = (log_q.float().exp() * log_q.float()).nansum(dim=1)
        # r's negative entropy needs q only at the target: the target columns, gathered
        neg_entropy_r = neg_entropy_of_soft_label(log_q_t.exp(), log_q_t, torch.zeros_like(index), q_log_q)
        z_t = z.gather(1, index)
        rows = z.shape[0]
        outputs = COMPILED(_student_math, *bucket_rows(z, log_q), float(beta))
        dz, lse, lse_real, q_dot_z, p_pad, q_pad = (t[:rows] for t in outputs)  # padded rows dropped
        ce_rows = lse - z_t
        kl_rows = neg_entropy_r.unsqueeze(1) - 0.5 * q_dot_z - 0.5 * z_t + lse_real
        objective = ((1.0 - beta) * ce_rows + beta * kl_rows).sum()
        dz[:, :1] = (1.0 - beta) * p_pad - (0.5 * beta) * q_pad  # padding: CE part only
        dz.scatter_add_(1, index, dz.new_full(index.shape, -(1.0 - 0.5 * beta)))
        return torch.stack([objective, ce_rows.sum()]), dz
    return block_fn
