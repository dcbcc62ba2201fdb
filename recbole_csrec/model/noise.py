"""The noise model h of CSRec-T (paper Eq. 10-12): h(i|j) ~ P(observed i | preferred j).

h is a proper conditional distribution over the real items (padding excluded):

    log h(i|j) = S[i, j] - log sum_{i'} exp(S[i', j]),   S = M N,  M: [|I| x r],  N: [r x |I|]

Only the real items 1..|I| are modelled; item id k is row/column k-1. The expectation term of
Eq. 12, -sum_j P_g1(j|s) log h(i|j), needs the rows S[i, :] of the batch's targets i (B x |I|)
and the per-column normaliser log Z_j, which is computed once per step and shared by the batch.

Cost of the exact normaliser: |I|^2 * r multiply-adds per step (about 3x that with the backward
pass), block by block (a chunk of columns x a block of rows, ~1 MiB, merged with an online
logsumexp) so that S is never materialised and each block's passes run in cache: with a block per
whole column chunk (16 MiB), the exp/max/sum passes ran from memory and took twice as long
(docs/performance.md, "The noise normaliser in cache-sized blocks").
For large catalogues:
- `importance` (unbiased): the term needs log Z only through sum_j w_j log Z_j, w = the batch's
  mean P_g1. A cheap estimate A_j (K uniformly drawn rows, no gradient) covers every column, and
  the remainder sum_j w_j (log Z_j - A_j) is estimated from K columns drawn from w, each with its
  exact log Z_j: value and gradient are unbiased, at about 4 * |I| * K * r per step.
- `sampled` (biased low, Jensen): Z_j estimated from K uniformly drawn rows: |I| * K * r per step.
"""
from __future__ import annotations

import math

import torch
from torch import nn

NORMALIZERS = ("auto", "exact", "importance", "sampled")
COLUMN_CHUNK = 1024  # columns of one block of S
BLOCK_ELEMENTS = 1 << 18  # entries of one [rows x columns] block of S (1 MiB in float32: in cache)


def _blocks(n_rows: int, n_cols: int, chunk_size: int | None,
            block_elements: int | None) -> list[tuple[slice, list[slice]]]:
    """(column slice, [row slices]) covering [n_rows x n_cols], each block about `block_elements`."""
    cols = chunk_size or min(n_cols, COLUMN_CHUNK)
    rows = max(1, (block_elements or BLOCK_ELEMENTS) // cols)
    row_slices = [slice(start, start + rows) for start in range(0, n_rows, rows)]
    return [(slice(start, start + cols), row_slices) for start in range(0, n_cols, cols)]


def _chunk_log_normalizer(M: torch.Tensor, N_chunk: torch.Tensor, row_slices: list[slice]) -> torch.Tensor:
    """logsumexp over all rows of M @ N_chunk, row block by row block (online max and sum).

    torch.logsumexp also guards against infinite maxima, several extra passes over each block;
    the scores of h are finite products, so one max, one shifted exp and one sum suffice."""
    top = total = None
    for rows in row_slices:
        block = M[rows] @ N_chunk
        new_top = block.amax(dim=0) if top is None else torch.maximum(top, block.amax(dim=0))
        block_sum = block.sub_(new_top).exp_().sum(dim=0)  # in place: the block is scratch
        total = block_sum if total is None else total.mul_((top - new_top).exp_()).add_(block_sum)
        top = new_top
    return total.log_().add_(top)


def resolve_normalizer(normalizer: str, num_items: int, exact_max_items: int) -> str:
    """The normaliser that runs: `auto` is exact up to `exact_max_items` real items, importance above."""
    if normalizer not in NORMALIZERS:
        raise ValueError(f"noise_normalizer '{normalizer}' is not one of {NORMALIZERS}")
    if normalizer == "auto":
        return "exact" if num_items <= exact_max_items else "importance"
    return normalizer


class _ColumnLogSumExp(torch.autograd.Function):
    """log sum_i exp((M N)[i, j]) for every column j, block by block.

    The backward pass recomputes each block instead of storing S, so neither direction ever
    holds more than one block: d logZ_j / d S[i, j] = softmax_i(S[:, j]).
    """

    @staticmethod
    def forward(ctx, M: torch.Tensor, N: torch.Tensor, chunk_size: int | None,
                block_elements: int | None) -> torch.Tensor:
        out = torch.empty(N.size(1), dtype=M.dtype, device=M.device)
        for cols, row_slices in _blocks(M.size(0), N.size(1), chunk_size, block_elements):
            out[cols] = _chunk_log_normalizer(M, N[:, cols], row_slices)
        ctx.save_for_backward(M, N, out)
        ctx.blocking = (chunk_size, block_elements)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        M, N, log_z = ctx.saved_tensors
        grad_M = torch.zeros_like(M) if ctx.needs_input_grad[0] else None
        grad_N = torch.zeros_like(N) if ctx.needs_input_grad[1] else None
        for cols, row_slices in _blocks(M.size(0), N.size(1), *ctx.blocking):
            N_chunk = N[:, cols]
            for rows in row_slices:
                # softmax over rows, weighted by the incoming gradient of each column
                weights = (M[rows] @ N_chunk).sub_(log_z[cols]).exp_().mul_(grad_out[cols])
                if grad_M is not None:
                    grad_M[rows].addmm_(weights, N_chunk.t())
                if grad_N is not None:
                    grad_N[:, cols].addmm_(M[rows].t(), weights)
        return grad_M, grad_N, None, None


def column_log_normalizer(M: torch.Tensor, N: torch.Tensor, chunk_size: int | None = None,
                          block_elements: int | None = None) -> torch.Tensor:
    """[|I|] log Z_j = logsumexp over the rows of (M N)[:, j]; memory O(one block).

    `chunk_size` columns (default COLUMN_CHUNK) by `block_elements / chunk_size` rows per block
    (default BLOCK_ELEMENTS entries)."""
    return _ColumnLogSumExp.apply(M, N, chunk_size, block_elements)


class NoiseModel(nn.Module):
    """Low-rank noise matrix h = M N, normalised over the observed item i for each column j.

    `normalizer`: `exact` (chunked log-softmax over all |I| rows), `sampled` (Z_j estimated from
    `sample_size` rows drawn uniformly without replacement, a fresh draw per step), `importance`
    (the sampled rows as a control variate plus `sample_size` columns drawn by the batch's P_g1
    mass, each normalised exactly: unbiased), or `auto` (exact while |I| <= `exact_max_items`,
    importance above).
    """

    def __init__(self, n_items: int, rank: int, normalizer: str = "auto", exact_max_items: int = 10000,
                 sample_size: int = 2048, chunk_size: int | None = None) -> None:
        super().__init__()
        self.num_items = int(n_items) - 1  # real items; id 0 is padding
        self.rank = int(rank)
        self.normalizer = resolve_normalizer(normalizer, self.num_items, exact_max_items)
        self.sample_size = min(int(sample_size), self.num_items)
        self.chunk_size = chunk_size
        self.M = nn.Parameter(torch.empty(self.num_items, self.rank))
        self.N = nn.Parameter(torch.empty(self.rank, self.num_items))
        nn.init.xavier_normal_(self.M)
        nn.init.xavier_normal_(self.N)

    def log_normalizer(self) -> torch.Tensor:
        """[|I|] log Z_j per column j: exact, or (`sampled`, `importance`) the row-sampled estimate."""
        if self.normalizer == "exact":
            return column_log_normalizer(self.M, self.N, self.chunk_size)
        return self._row_sampled_log_normalizer(self.M, self.N)

    def _row_sampled_log_normalizer(self, M: torch.Tensor, N: torch.Tensor) -> torch.Tensor:
        rows = torch.randperm(self.num_items, device=M.device)[:self.sample_size]
        # Z_j ~ |I|/K * sum_{k in sample} exp(S[k, j])
        return column_log_normalizer(M[rows], N, self.chunk_size) + math.log(self.num_items / self.sample_size)

    def weighted_log_normalizer(self, weights: torch.Tensor) -> torch.Tensor:
        """sum_j weights_j log Z_j for a distribution `weights` over the |I| columns.

        Exact for `exact`; for `importance` an unbiased estimate (value and gradient, also with
        respect to `weights`): sum_j w_j A_j + mean_k (w_k / sg(w_k)) (log Z_k - A_k), A the
        row-sampled estimate without gradient, k ~ w, log Z_k exact.
        """
        if self.normalizer != "importance":
            return (weights * self.log_normalizer()).sum()
        with torch.no_grad():
            control = self._row_sampled_log_normalizer(self.M, self.N)
            cols = torch.multinomial(weights.detach().float(), self.sample_size, replacement=True)
        log_z = column_log_normalizer(self.M, self.N[:, cols], self.chunk_size)
        picked = weights[cols]
        correction = (picked / picked.detach() * (log_z - control[cols])).mean()
        return (weights * control).sum() + correction

    def log_h_rows(self, target: torch.Tensor, log_z: torch.Tensor | None = None) -> torch.Tensor:
        """[B, |I|] log h(i_b | j) for the observed items i_b = `target` (ids >= 1), all j."""
        if log_z is None:
            log_z = self.log_normalizer()
        return self.M[target - 1] @ self.N - log_z.unsqueeze(0)

    def expectation_term(self, target: torch.Tensor, p_g1: torch.Tensor) -> torch.Tensor:
        """Batch mean of -sum_j P_g1(j|s) log h(i|j); `p_g1` is [B, |I|] over the real items.

        = -mean_b M[i_b] . (N P_b) + sum_j w_j log Z_j with w = mean_b P_b: the scores part costs
        one [B x |I|] x [|I| x r] product, the normaliser part is shared by the batch.
        """
        scores = ((p_g1 @ self.N.t()) * self.M[target - 1]).sum(dim=-1).mean()
        return self.weighted_log_normalizer(p_g1.mean(dim=0)) - scores

    def extra_repr(self) -> str:
        return f"items={self.num_items}, rank={self.rank}, normalizer={self.normalizer}" + \
               (f", sample_size={self.sample_size}" if self.normalizer in ("sampled", "importance") else "")
