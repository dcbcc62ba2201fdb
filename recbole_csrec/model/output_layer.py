"""The output layer and its loss fused: `hidden @ item_embedding.T` and the loss in one pass, block
by block, so that the [rows x |I|] logits never exist at once (`fused_output: True`, the default).

RecBole's sequential models score all items with `torch.matmul(seq_output, W.transpose(0, 1))`
(W = `item_embedding.weight`) and hand the logits to `self.loss_fct`. `capture_item_scores`
intercepts exactly that matmul (a TorchFunctionMode that recognises the transposed view of W) and
returns an `ItemScores` (hidden, W) instead of the logits; the loss that the student installs as
`loss_fct` (model/recorder.py) then computes its value AND its gradients here, in row blocks of
at most BLOCK_ELEMENTS logits (Liger Kernel's FusedLinearCrossEntropy scheme, on CPU):

    for each row block:  z = h_b @ W.T  ->  loss_b, dL/dz (in place in z)  ->  dh_b = dz @ W,  dW += dz.T @ h_b

Backward then only scales the stored dh, dW by the incoming gradient. Three matmuls, as the
unfused path, no recomputation; the softmax passes touch one block while it is hot, and the
[B x |I|] log-softmax, its gradient and the zero-filled NLL gradient are never allocated.
Everything RecBole's calculate_loss does besides that matmul (the sequence model, regularisers)
runs unchanged. The CE and forward-KL gradients are analytic; other objectives (reverse KL) run
today's loss function on each block under autograd (`_autograd_block`), so they stay exactly it.

With `bf16` the three matmuls take bf16 operands (fp32 accumulation); the softmax statistics, the
loss and the gradients' accumulation stay fp32. docs/performance.md has the measurements.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, NamedTuple

import torch
from torch.overrides import TorchFunctionMode

from recbole_csrec.loss import StudentObjective, log1mexp, neg_entropy_of_soft_label, soft_label_kl
from recbole_csrec.model.compiled_blocks import BlockFn, compiled_forward_kl_block
from recbole_csrec.soft_labels.base import SoftLabelBatch

# Largest logits block held at once (fp32: 32 MiB). Measured on this project's 2-core CPU (Yelp
# shapes, 256 x 20,034): one block for the whole batch was fastest; smaller blocks only add
# matmul calls (docs/performance.md). Catalogues above 32k items get blocks of fewer rows.
BLOCK_ELEMENTS = 1 << 23


class ItemScores(NamedTuple):
    """The logits `hidden @ weight.T`, not computed: hidden [..., d] (any leading shape), weight
    [n_items, d] (row 0 the padding item)."""

    hidden: torch.Tensor
    weight: torch.Tensor

    @property
    def n_items(self) -> int:
        return self.weight.size(0)

    def rows(self) -> torch.Tensor:
        """hidden as [N, d] (leading dimensions flattened)."""
        return self.hidden.reshape(-1, self.hidden.size(-1))

    def materialize(self) -> torch.Tensor:
        return self.hidden @ self.weight.t()


_MATMULS = {torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm}


class _CaptureMode(TorchFunctionMode):
    """Returns ItemScores for the first `x @ weight.T` (weight.T a transposed view of `weight`)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = weight
        self.captured = False

    def _is_weight_t(self, other) -> bool:
        w = self.weight
        return (isinstance(other, torch.Tensor) and other._base is w and other.dim() == 2
                and other.shape == (w.size(1), w.size(0)) and other.stride() == (w.stride(1), w.stride(0)))

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if (not self.captured and func in _MATMULS and len(args) == 2 and not kwargs
                and isinstance(args[0], torch.Tensor) and self._is_weight_t(args[1])):
            self.captured = True
            return ItemScores(args[0], self.weight)
        return func(*args, **kwargs)


@contextmanager
def capture_item_scores(model: torch.nn.Module, enabled: bool = True) -> Iterator[None]:
    """Inside, the model's full-item scoring matmul yields ItemScores (when `enabled` and the model
    has an `item_embedding`); everything else runs as usual."""
    embedding = getattr(model, "item_embedding", None)
    if not enabled or not isinstance(embedding, torch.nn.Embedding):
        yield
        return
    with _CaptureMode(embedding.weight):
        yield


# ---- the fused function -------------------------------------------------------------------

# A block function (BlockFn): (z [rows, n_items] fp32 logits of rows `block`, block) -> (per-part
# loss sums [k] fp32, d(sum of part 0)/dz), the gradient usually written over z itself. Part 0 is
# the objective; further parts are logged values (no gradient).


class _FusedLinearLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, block_fn: BlockFn,
                matmul_dtype: torch.dtype) -> torch.Tensor:
        n_rows, n_items = hidden.size(0), weight.size(0)
        rows_per_block = max(1, BLOCK_ELEMENTS // n_items)
        h = hidden.detach().to(matmul_dtype)
        w = weight.detach().to(matmul_dtype)
        grad_h = torch.empty(hidden.shape, dtype=torch.float32, device=hidden.device)
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        sums = None
        with torch.no_grad():
            for start in range(0, n_rows, rows_per_block):
                block = slice(start, min(start + rows_per_block, n_rows))
                z = (h[block] @ w.t()).float()
                part_sums, dz = block_fn(z, block)
                sums = part_sums if sums is None else sums + part_sums
                dz = dz.to(matmul_dtype)  # no copy in fp32
                grad_h[block] = dz @ w  # plain matmuls (FlopCounterMode misses mm(out=), addmm_)
                grad_w += dz.t() @ h[block]
        ctx.save_for_backward(grad_h, grad_w)
        ctx.dtypes, ctx.n_rows = (hidden.dtype, weight.dtype), n_rows
        return sums / n_rows  # batch means, as RecBole's CE (reduction='mean')

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_h, grad_w = ctx.saved_tensors
        scale = grad_out[0] / ctx.n_rows  # of the mean; parts 1.. are logged values: no gradient
        return (grad_h.mul(scale).to(ctx.dtypes[0]), grad_w.mul(scale).to(ctx.dtypes[1]), None, None)


def fused_linear_loss(scores: ItemScores, block_fn: BlockFn, bf16: bool = False) -> torch.Tensor:
    """[k] batch means of the block function's parts; part 0 carries the gradient to hidden and W."""
    dtype = torch.bfloat16 if bf16 else torch.float32
    return _FusedLinearLoss.apply(scores.rows(), scores.weight, block_fn, dtype)


# ---- block functions ---------------------------------------------------------------------

def _exp_shifted_(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """z <- exp(z - rowmax) in place; returns (lse, rowsum of the new z), both [rows, 1]. One exp
    pass over the block (torch.logsumexp followed by softmax would make two: exp is the costliest
    elementwise pass on CPU, docs/performance.md)."""
    row_max = z.amax(dim=1, keepdim=True)
    z.sub_(row_max).exp_()
    row_sum = z.sum(dim=1, keepdim=True)
    return row_max + row_sum.log(), row_sum


def _ce_block(target: torch.Tensor) -> BlockFn:
    """CE over all columns (padding included, as RecBole's CE); part 0 = CE."""
    def block_fn(z: torch.Tensor, block: slice) -> torch.Tensor:
        index = target[block].unsqueeze(1)
        z_t = z.gather(1, index)
        lse, row_sum = _exp_shifted_(z)
        z.div_(row_sum).scatter_add_(1, index, z.new_full(index.shape, -1.0))  # softmax - onehot
        return (lse - z_t).sum().reshape(1), z
    return block_fn


def _forward_kl_block(target: torch.Tensor, soft_labels: SoftLabelBatch, beta: float) -> BlockFn:
    """(1-beta)*CE + beta*KL(r || P_f), r = q/2 + onehot/2 (recbole_csrec.loss, forward direction).

    Per row, with lse over all columns (CE) and lse_real over the real items (P_f):
        loss = (1-beta)*(lse - z_t) + beta*(sum r log r - sum_j r_j z_j + lse_real)
        dloss/dz_j = (1-beta)*p_j + beta*p_j*exp(lse - lse_real)*[j>=1] - (beta/2)*q_j - (1-beta/2)*[j=t]
    Parts: (objective, CE).
    """
    def block_fn(z: torch.Tensor, block: slice) -> torch.Tensor:
        index = target[block].unsqueeze(1)
        log_q = soft_labels.log_probs[block]                       # fp16 from the cache
        q = log_q.to(torch.float32, copy=True).exp_()             # one new fp32 tensor
        q_log_q = (soft_labels.q_log_q[block].float() if soft_labels.q_log_q is not None
                   else (q * log_q.float()).nansum(dim=1))
        neg_entropy_r = neg_entropy_of_soft_label(q, log_q, index, q_log_q)
        z_t = z.gather(1, index)
        z_pad = z[:, :1].clone()
        # sum_{j>=1} q_j z_j as a row-wise dot product (no [rows x |I|] temporary; torch.bmm of
        # [rows, 1, |I|] x [rows, |I|, 1] is 4x slower on CPU); q_0 = 0 (padding)
        q_dot_z = torch.linalg.vecdot(q, z).unsqueeze(1) - q[:, :1] * z_pad
        lse, row_sum = _exp_shifted_(z)                            # z <- exp(z - max): p * row_sum
        lse_real = lse + log1mexp(z_pad - lse)
        ce_rows = lse - z_t
        kl_rows = neg_entropy_r.unsqueeze(1) - 0.5 * q_dot_z - 0.5 * z_t + lse_real
        objective = ((1.0 - beta) * ce_rows + beta * kl_rows).sum()
        p_pad = z[:, :1] / row_sum
        z.mul_(((1.0 - beta) + beta * torch.exp(lse - lse_real)) / row_sum)  # real columns
        z[:, :1] = (1.0 - beta) * p_pad                            # padding: CE part only
        z.sub_(q, alpha=0.5 * beta).scatter_add_(1, index, z.new_full(index.shape, -(1.0 - 0.5 * beta)))
        return torch.stack([objective, ce_rows.sum()]), z
    return block_fn


def _autograd_block(rows_loss: Callable[[torch.Tensor, slice], tuple[torch.Tensor, ...]]) -> BlockFn:
    """Any objective given as per-block sums of today's loss functions: autograd on the block."""
    def block_fn(z: torch.Tensor, block: slice) -> torch.Tensor:
        with torch.enable_grad():
            leaf = z.detach().requires_grad_()
            parts = rows_loss(leaf, block)
            (grad,) = torch.autograd.grad(parts[0], leaf)
        return torch.stack([p.detach().float() for p in parts]), grad
    return block_fn


def _reverse_kl_rows(target: torch.Tensor, soft_labels: SoftLabelBatch, beta: float):
    """(1-beta)*CE + beta*KL(P_f || r) per block, with recbole_csrec.loss's own functions."""
    def rows_loss(z: torch.Tensor, block: slice) -> tuple[torch.Tensor, ...]:
        rows = z.size(0)
        t = target[block]
        ce = torch.nn.functional.cross_entropy(z, t, reduction="sum")
        kl = soft_label_kl(z, soft_labels.log_probs[block], t, "reverse") * rows
        return (1.0 - beta) * ce + beta * kl, ce
    return rows_loss


# ---- what the recorder calls ---------------------------------------------------------------

def fused_cross_entropy(scores: ItemScores, target: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    """RecBole's CE (mean over rows, padding column included) without the logits."""
    return fused_linear_loss(scores, _ce_block(target.reshape(-1)), bf16)[0]


def fused_student_objective(scores: ItemScores, soft_labels: SoftLabelBatch, target: torch.Tensor,
                            beta: float, direction: str = "forward",
                            bf16: bool = False, compiled: bool = False) -> StudentObjective:
    """The student's (1-beta)*CE + beta*KL in either direction, as StudentObjective; `compiled`:
    the forward direction's block compiled (model/compiled_blocks.py)."""
    target = target.reshape(-1)
    if direction == "forward":
        block_fn = (compiled_forward_kl_block if compiled else _forward_kl_block)(target, soft_labels, beta)
    else:
        block_fn = _autograd_block(_reverse_kl_rows(target, soft_labels, beta))
    parts = fused_linear_loss(scores, block_fn, bf16)
    return StudentObjective(parts[0], parts[1].detach())


__all__ = ["ItemScores", "capture_item_scores", "fused_cross_entropy", "fused_student_objective",
           "BLOCK_ELEMENTS"]
