"""ctc_loss, as ``torch.nn.functional.ctc_loss``: the CTC forward-backward algorithm in log space.

Over the extended label l' = (blank, y1, blank, y2, ..., blank) of length S = 2|y| + 1:
    alpha_t(s) = lp[t, l'(s)] + logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2) if l'(s) != blank, l'(s-2))
    beta_t(s)  = lp[t, l'(s)] + logsumexp(beta_{t+1}(s), beta_{t+1}(s+1), beta_{t+1}(s+2) if allowed)
    nll = -logsumexp(alpha_{T-1}(S-1), alpha_{T-1}(S-2))
    d nll / d lp[t, c] = -exp(logsumexp_{s: l'(s) = c}(alpha_t(s) + beta_t(s)) - lp[t, c] + nll)
Each recursion is T steps of (N, S) Tensor ops, so it runs on every device. The gradient is
the exact one with respect to ``log_probs`` (PyTorch's kernel returns exp(lp) minus this, a form
that is only equal once it passes through log_softmax; see README "Deliberate differences").
Lengths and targets are read on the host to build l' and the masks.
"""
from __future__ import annotations

import numpy as np

from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...ops.creation import tensor as _tensor
from ...ops.movement import cat, stack
from ...ops.pointwise import where
from ..._tensor import Tensor

__all__ = ["ctc_loss"]

_NEG = float("-inf")


def _lse(*xs):
    """Elementwise logsumexp of equal-shape tensors (all -inf gives -inf): one stacked reduction, 2 ops
    instead of 16 composed ones (ctc fwd+bwd at T=50, N=8, C=20: 195 -> 146 ms, 1 CPU thread)."""
    with np.errstate(divide="ignore"):      # log(0) = -inf is the intended value on the CPU backend
        return stack(xs).logsumexp(0)


def _shift(a, k, fill):
    """Shift (N, S) right by k (k > 0) or left by -k, filling with ``fill``."""
    pad = fill[:, :abs(k)]
    return cat([pad, a[:, :-k]], 1) if k > 0 else cat([a[:, -k:], pad], 1)


class _CTC(Function):
    """Per-sample nll (N,) of log_probs (T, N, C); ``m`` holds the host-built l' and masks."""
    _internal = True

    @staticmethod
    def forward(ctx, lp, m, zero_infinity):
        T, N, C = lp.shape
        S = m.ext.shape[1]
        lpe = lp.gather(2, m.ext.unsqueeze(0).expand(T, N, S))        # (T, N, S): lp at l'(s)
        neg = lp.new_full((N, S), _NEG)
        a = where(m.first, lpe[0], _NEG)
        alphas = [a]
        for t in range(1, T):
            a = _lse(a, _shift(a, 1, neg), where(m.skip, _shift(a, 2, neg), _NEG)) + lpe[t]
            alphas.append(a)
        alpha = stack(alphas)                                           # (T, N, S)
        flat = alpha.reshape(-1)
        # log p(y | x): alpha at the last step in l's last two positions (one for an empty y)
        ll = _lse(flat[m.end1], where(m.single, _NEG, flat[m.end2]))
        ll = where(m.no_input, m.empty_ll, ll)                          # T_n = 0: p = 1 iff y is empty
        nll = -ll
        if zero_infinity:
            nll = where(nll == float("inf"), 0.0, nll)
        ctx.save_for_backward(lp, alpha, nll, lpe)
        ctx.m = m
        return nll

    @staticmethod
    def backward(ctx, g):
        if is_grad_enabled():   # alpha and beta are computed outside autograd: a second derivative would be wrong
            raise RuntimeError("ctc_loss: double backward (create_graph=True) is not supported")
        lp, alpha, nll, lpe = ctx.saved_tensors
        m = ctx.m
        T, N, C = lp.shape
        neg = lp.new_full(tuple(m.ext.shape), _NEG)
        skip2 = _shift(m.skip, -2, m.skip.new_zeros(tuple(m.skip.shape)))   # s -> s+2 allowed
        b = neg
        betas = [None] * T
        for t in reversed(range(T)):
            nxt = _lse(b, _shift(b, -1, neg), where(skip2, _shift(b, -2, neg), _NEG)) + lpe[t]
            b = where(m.last == t, lpe[t] + m.endmask, where(m.last > t, nxt, _NEG))
            betas[t] = b
        ab = alpha + stack(betas)                                       # (T, N, S)
        mx = ab.amax(-1, keepdim=True)
        ms = where(mx == _NEG, 0.0, mx)
        onehot = (m.ext.unsqueeze(-1) == _tensor(np.arange(C), device=lp.device)).to(lp.dtype)   # (N, S, C)
        e = (ab - ms).exp().unsqueeze(-2).matmul(onehot.unsqueeze(0)).squeeze(-2)               # (T, N, C)
        finite = where(nll.isinf(), 0.0, g.to(lp.dtype))                # zero_infinity's rows (and inf ones) get 0
        grad = where(e > 0, -e * (ms + where(nll.isinf(), 0.0, nll).reshape(1, N, 1) - lp).exp(), 0.0)
        return grad * finite.reshape(1, N, 1), None, None


class _Layout:
    """Host-built l' (N, S), skip/first/end masks and end indices, as tensors on the loss's device."""

    def __init__(self, ext, il, tl, blank, N, dev, dtype):
        S = ext.shape[1]
        s = np.arange(S)
        sl = 2 * tl + 1                                                 # each sample's |l'|
        skip = np.zeros((N, S), bool)
        skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
        last = il - 1                                                   # -1 for an empty input
        base = np.maximum(last, 0) * N * S + np.arange(N) * S
        endmask = np.where((s == sl[:, None] - 1) | ((s == sl[:, None] - 2) & (sl[:, None] > 1)), 0.0, _NEG)
        t = lambda a, dt=None: _tensor(a, dtype=dt, device=dev)          # noqa: E731
        self.ext, self.skip, self.first = t(ext), t(skip), t(s < np.minimum(2, sl)[:, None])
        self.end1, self.end2 = t(base + sl - 1), t(base + np.maximum(sl - 2, 0))
        self.single, self.no_input = t(sl == 1), t(il == 0)
        self.empty_ll = t(np.where(tl == 0, 0.0, _NEG), dtype)
        self.last, self.endmask = t(last.reshape(N, 1)), t(endmask, dtype)


def _lengths(v, n, what):
    a = np.asarray(v.detach().cpu().numpy() if isinstance(v, Tensor) else v, dtype=np.int64).reshape(-1)
    if a.shape[0] != n:
        raise RuntimeError(f"Expected tensor to have size at least {n} at dimension 1, but got size {a.shape[0]} for "
                           f"argument #2 '{what}' (while checking arguments for ctc_loss_cpu)")
    return a


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False):
    """Connectionist Temporal Classification loss.

    Args:
        log_probs: (T, N, C) or unbatched (T, C) log-probabilities (log_softmax over C).
        targets: (N, S) padded class indices, or the targets of all samples concatenated (1-D).
        input_lengths, target_lengths: (N,) tensors or sequences of ints.
        reduction: 'mean' divides each loss by its target length, then averages over the batch.

    Example::

        loss = F.ctc_loss(logits.log_softmax(2), targets, input_lengths, target_lengths)
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    unbatched = log_probs.ndim == 2
    lp = log_probs.unsqueeze(1) if unbatched else log_probs
    if lp.ndim != 3:
        raise RuntimeError(f"ctc_loss: expected log_probs to be 2-D or 3-D, got {log_probs.ndim}-D")
    if not lp.dtype.is_floating_point:
        raise RuntimeError(f"ctc_loss: expected log_probs to be floating point, got {lp.dtype}")
    T, N, C = lp.shape
    if not 0 <= blank < C:
        raise RuntimeError("blank must be in label range")
    il, tl = _lengths(input_lengths, N, "input_lengths"), _lengths(target_lengths, N, "target_lengths")
    tg = targets.detach().cpu().numpy() if isinstance(targets, Tensor) else np.asarray(targets)
    if unbatched and tg.ndim == 1 and tl.size == 1 and tg.shape[0] >= tl[0]:
        tg = tg.reshape(1, -1)
    if (il > T).any() or (il < 0).any():
        raise RuntimeError(f"Expected input_lengths to have value at most {T}, but got value {int(il.max())} "
                           f"(while checking arguments for ctc_loss_cpu)")
    if tg.ndim == 2:
        if (tl > tg.shape[1]).any():
            raise RuntimeError(f"Expected tensor to have size at least {int(tl.max())} at dimension 1, but got size "
                               f"{tg.shape[1]} for argument #2 'targets' (while checking arguments for ctc_loss_cpu)")
        rows = [tg[n, :tl[n]] for n in range(N)]
    else:
        if tl.sum() > tg.shape[0]:
            raise RuntimeError(f"ctc_loss: the 1-D targets hold {tg.shape[0]} labels but target_lengths sum to "
                               f"{int(tl.sum())}")
        rows = np.split(tg[:int(tl.sum())], np.cumsum(tl)[:-1])
    S = 2 * int(tl.max(initial=0)) + 1
    ext = np.full((N, S), blank, np.int64)
    for n, r in enumerate(rows):
        if r.size and ((r < 0) | (r >= C)).any():
            raise RuntimeError(f"ctc_loss: target values must lie in [0, {C}), got {r.tolist()}")
        ext[n, 1:2 * r.size:2] = r
    nll = _CTC.apply(lp, _Layout(ext, il, tl, blank, N, lp.device, lp.dtype), bool(zero_infinity))
    if reduction == "none":
        return nll.squeeze(0) if unbatched else nll
    if reduction == "sum":
        return nll.sum()
    return (nll / _tensor(np.maximum(tl, 1), dtype=nll.dtype, device=lp.device)).mean()
