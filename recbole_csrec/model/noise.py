"""The noise model h of CSRec-T (paper Eq. 10-12): h(i|j) ~ P(observed i | preferred j).

h is a proper conditional distribution over the real items (padding excluded):

    log h(i|j) = S[i, j] - log sum_{i'} exp(S[i', j]),   S = M N,  M: [|I| x r],  N: [r x |I|]

Only the real items 1..|I| are modelled; item id k is row/column k-1. The expectation term of
Eq. 12, -sum_j P_g1(j|s) log h(i|j), needs the rows S[i, :] of the batch's targets i (B x |I|)
and the per-column normaliser log Z_j, which is computed once per step and shared by the batch.

Cost of the exact normaliser: |I|^2 * r multiply-adds per step (about 3x that with the backward
pass), in chunks of columns so that memory stays O(chunk * |I|) and S is never materialised.
For large catalogues the `sampled` normaliser estimates Z_j from K uniformly drawn rows:
|I| * K * r per step.
"""
from __future__ import annotations

import math

import torch
from torch import nn

NORMALIZERS = ("auto", "exact", "sampled")
CHUNK_ELEMENTS = 1 << 22  # entries of one [rows x chunk] block of S (16 MiB in float32)


def _column_chunks(n_cols: int, n_rows: int, chunk_size: int | None) -> tuple[range, int]:
    size = chunk_size or max(1, CHUNK_ELEMENTS // max(1, n_rows))
    return range(0, n_cols, size), size


class _ColumnLogSumExp(torch.autograd.Function):
    """log sum_i exp((M N)[i, j]) for every column j, chunk by chunk over j.

    The backward pass recomputes each chunk instead of storing S, so neither direction ever
    holds more than one [rows x chunk] block: d logZ_j / d S[i, j] = softmax_i(S[:, j]).
    """

    @staticmethod
    def forward(ctx, M: torch.Tensor, N: torch.Tensor, chunk_size: int | None) -> torch.Tensor:
        starts, size = _column_chunks(N.size(1), M.size(0), chunk_size)
        out = torch.empty(N.size(1), dtype=M.dtype, device=M.device)
        for start in starts:
            out[start:start + size] = torch.logsumexp(M @ N[:, start:start + size], dim=0)
        ctx.save_for_backward(M, N, out)
        ctx.chunk_size = chunk_size
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        M, N, log_z = ctx.saved_tensors
        starts, size = _column_chunks(N.size(1), M.size(0), ctx.chunk_size)
        grad_M = torch.zeros_like(M) if ctx.needs_input_grad[0] else None
        grad_N = torch.zeros_like(N) if ctx.needs_input_grad[1] else None
        for start in starts:
            cols = slice(start, start + size)
            # softmax over rows, weighted by the incoming gradient of each column
            weights = torch.exp(M @ N[:, cols] - log_z[cols]) * grad_out[cols]
            if grad_M is not None:
                grad_M += weights @ N[:, cols].t()
            if grad_N is not None:
                grad_N[:, cols] = M.t() @ weights
        return grad_M, grad_N, None


def column_log_normalizer(M: torch.Tensor, N: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """[|I|] log Z_j = logsumexp over the rows of (M N)[:, j]; memory O(chunk * rows)."""
    return _ColumnLogSumExp.apply(M, N, chunk_size)


class NoiseModel(nn.Module):
    """Low-rank noise matrix h = M N, normalised over the observed item i for each column j.

    `normalizer`: `exact` (chunked log-softmax over all |I| rows), `sampled` (Z_j estimated from
    `sample_size` rows drawn uniformly without replacement, a fresh draw per step), or `auto`
    (exact while |I| <= `exact_max_items`).
    """

    def __init__(self, n_items: int, rank: int, normalizer: str = "auto", exact_max_items: int = 10000,
                 sample_size: int = 2048, chunk_size: int | None = None) -> None:
        super().__init__()
        if normalizer not in NORMALIZERS:
            raise ValueError(f"noise_normalizer '{normalizer}' is not one of {NORMALIZERS}")
        self.num_items = int(n_items) - 1  # real items; id 0 is padding
        self.rank = int(rank)
        if normalizer == "auto":
            normalizer = "exact" if self.num_items <= exact_max_items else "sampled"
        self.normalizer = normalizer
        self.sample_size = min(int(sample_size), self.num_items)
        self.chunk_size = chunk_size
        self.M = nn.Parameter(torch.empty(self.num_items, self.rank))
        self.N = nn.Parameter(torch.empty(self.rank, self.num_items))
        nn.init.xavier_normal_(self.M)
        nn.init.xavier_normal_(self.N)

    def log_normalizer(self) -> torch.Tensor:
        """[|I|] log Z_j per column j (exact, or the sampled estimate)."""
        if self.normalizer == "exact":
            return column_log_normalizer(self.M, self.N, self.chunk_size)
        rows = torch.randperm(self.num_items, device=self.M.device)[:self.sample_size]
        # Z_j ~ |I|/K * sum_{k in sample} exp(S[k, j])
        return column_log_normalizer(self.M[rows], self.N, self.chunk_size) \
            + math.log(self.num_items / self.sample_size)

    def log_h_rows(self, target: torch.Tensor, log_z: torch.Tensor | None = None) -> torch.Tensor:
        """[B, |I|] log h(i_b | j) for the observed items i_b = `target` (ids >= 1), all j."""
        if log_z is None:
            log_z = self.log_normalizer()
        return self.M[target - 1] @ self.N - log_z.unsqueeze(0)

    def expectation_term(self, target: torch.Tensor, log_p_g1: torch.Tensor) -> torch.Tensor:
        """Batch mean of -sum_j P_g1(j|s) log h(i|j); `log_p_g1` is [B, |I|] over real items."""
        log_h = self.log_h_rows(target)
        return -(log_p_g1.exp() * log_h).sum(dim=-1).mean()

    def extra_repr(self) -> str:
        return f"items={self.num_items}, rank={self.rank}, normalizer={self.normalizer}" + \
               (f", sample_size={self.sample_size}" if self.normalizer == "sampled" else "")
