"""CSRec-T's logit-level terms in one autograd function: g1's CE and the two KLs against the
frozen side teacher g2, with P_g1 handed on to the expectation term.

From g1's logits z [B, |I|+1] (column 0 the padding item, which RecBole's CE includes) and g2's
real-item logits z2 [B, |I|] (no gradient), with p1 = softmax(z[:, 1:]), p2 = softmax(z2) and
d = log p2 - log p1:

    CE    = mean_b (lse(z_b) - z_b[t_b])
    KL21  = mean_b sum_j p2 d         (KL(P_g2 || P_g1))
    KL12  = mean_b -sum_j p1 d        (KL(P_g1 || P_g2))

and p1 itself, whose incoming gradient g (from the expectation term) joins the others. The
gradient with respect to the real columns of z, per row b (g_ce, g21, g12 the incoming scalars):

    dz = p1 * (g - (g12/B) d + c_b) - (g21/B) p2 - (g_ce/B) onehot(t_b)
    c_b = -sum_j p1 g + g21/B - (g12/B) KL12_b + (g_ce/B) exp(lse_real_b - lse_b)

Autograd through log_softmax, exp, the products and the slicing makes ~40 passes over [B x |I|]
per step; this makes ~15 (docs/performance.md, CSRec-T). With `compiled_loss` the forward and the
backward formulas are each compiled by torch.compile into a few loops (model/compiled_blocks.py's
wrapper: eager fallback with one warning). Tested against autograd, compiled and eager.
"""
from __future__ import annotations

import torch

from recbole_csrec.model.compiled_blocks import COMPILED


def _forward_math(z: torch.Tensor, z2: torch.Tensor, index: torch.Tensor):
    """The forward formulas of the module docstring, out of place (for torch.compile)."""
    z_real = z[:, 1:]
    max_real = z_real.amax(dim=1, keepdim=True)
    e1 = (z_real - max_real).exp()
    sum_real = e1.sum(dim=1, keepdim=True)
    p1 = e1 / sum_real
    lse_real = max_real + sum_real.log()
    lse = torch.logaddexp(lse_real, z[:, :1])
    ce_rows = (lse - z.gather(1, index)).reshape(-1)
    max2 = z2.amax(dim=1, keepdim=True)
    e2 = (z2 - max2).exp()
    sum2 = e2.sum(dim=1, keepdim=True)
    p2 = e2 / sum2
    d = (z2 - z_real) + (lse_real - max2 - sum2.log())
    return ce_rows, (p2 * d).sum(dim=1), -(p1 * d).sum(dim=1), p1, p2, d, (lse_real - lse).exp()


def _backward_math(p1, p2, d, kl12_rows, real_share, g_p1, a_ce, a21, a12) -> torch.Tensor:
    """dz without the target's CE term (scattered by the caller); `g_p1` None without an
    expectation term (torch.compile makes one kernel per case); scalars as 0-dim tensors, so that
    torch.compile does not specialise on their values."""
    c = (a21 - a12 * kl12_rows).unsqueeze(1) + a_ce * real_share
    if g_p1 is None:
        real = (c - a12 * d) * p1 - a21 * p2
    else:
        c = c - (p1 * g_p1).sum(dim=1, keepdim=True)
        real = (g_p1 - a12 * d + c) * p1 - a21 * p2
    return torch.cat([a_ce * (1.0 - real_share), real], dim=1)


class _TeacherPairLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, z2: torch.Tensor, target: torch.Tensor, compiled: bool = False):
        zf = z.detach().float()
        index = target.reshape(-1, 1)
        ctx.compiled = compiled
        ctx.set_materialize_grads(False)  # no expectation term: P_g1's gradient stays None, not zeros
        if compiled:
            ce_rows, kl21_rows, kl12_rows, p1, p2, d, real_share = COMPILED(
                _forward_math, zf, z2.detach().float(), index)
            ctx.save_for_backward(p1, p2, d, kl12_rows, real_share, index)
            return ce_rows.mean(), kl21_rows.mean(), kl12_rows.mean(), p1
        # the real items' softmax with its own max: a large padding logit cannot swamp it
        z_real = zf[:, 1:]
        max_real = z_real.amax(dim=1, keepdim=True)
        p1 = (z_real - max_real).exp_()
        sum_real = p1.sum(dim=1, keepdim=True)
        p1.div_(sum_real)
        lse_real = max_real + sum_real.log()
        lse = torch.logaddexp(lse_real, zf[:, :1])          # over all columns, for CE
        ce_rows = (lse - zf.gather(1, index)).reshape(-1)
        z2f = z2.detach().float()
        max2 = z2f.amax(dim=1, keepdim=True)
        p2 = (z2f - max2).exp_()
        sum2 = p2.sum(dim=1, keepdim=True)
        p2.div_(sum2)
        d = (z2f - z_real).add_(lse_real - max2 - sum2.log())  # log p2 - log p1
        kl21_rows = torch.linalg.vecdot(p2, d)
        kl12_rows = -torch.linalg.vecdot(p1, d)
        ctx.save_for_backward(p1, p2, d, kl12_rows, (lse_real - lse).exp_(), index)
        return ce_rows.mean(), kl21_rows.mean(), kl12_rows.mean(), p1

    @staticmethod
    def backward(ctx, g_ce, g21, g12, g_p1):
        p1, p2, d, kl12_rows, real_share, index = ctx.saved_tensors
        n_rows = p1.size(0)
        a_ce, a21, a12 = (0.0 if g is None else float(g) / n_rows for g in (g_ce, g21, g12))
        if ctx.compiled:
            scalars = [torch.tensor(a, dtype=p1.dtype, device=p1.device) for a in (a_ce, a21, a12)]
            dz = COMPILED(_backward_math, p1, p2, d, kl12_rows, real_share, g_p1, *scalars)
            dz.scatter_add_(1, index, dz.new_full(index.shape, -a_ce))
            return dz, None, None, None
        c = (a21 - a12 * kl12_rows).unsqueeze(1) + a_ce * real_share
        dz = torch.empty((n_rows, p1.size(1) + 1), dtype=p1.dtype, device=p1.device)
        real = dz[:, 1:]
        torch.mul(d, -a12, out=real)
        if g_p1 is not None:
            c = c - torch.linalg.vecdot(p1, g_p1).unsqueeze(1)
            real.add_(g_p1)
        real.add_(c).mul_(p1).add_(p2, alpha=-a21)
        # padding column: CE's softmax only; p_pad = 1 - real_share
        dz[:, :1] = a_ce * (1.0 - real_share)
        dz.scatter_add_(1, index, dz.new_full(index.shape, -a_ce))
        return dz, None, None, None


def teacher_pair_loss(logits: torch.Tensor, side_logits: torch.Tensor, target: torch.Tensor,
                      compiled: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(CE, KL(P_g2||P_g1), KL(P_g1||P_g2), P_g1) from g1's logits [B, |I|+1] (padding column 0
    included, as RecBole's CE) and g2's real-item logits [B, |I|]; batch means, P_g1 [B, |I|].
    `compiled`: the formulas compiled by torch.compile (`compiled_loss`)."""
    return _TeacherPairLoss.apply(logits, side_logits, target, compiled)
