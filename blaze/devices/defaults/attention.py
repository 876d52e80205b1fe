"""Default of the ``attention`` group over the core tier: softmax(q k^T * scale + mask) v, unfused.

It materialises the (B, H, S_q, S_k) scores, as the cpu reference does; the backward recomputes
p = exp(s - lse) from the saved log-sum-exp rather than storing p (one score matrix instead of two).
"""
from __future__ import annotations

import math

import numpy as np

from ._util import acc, back, dtype_of, swap_last, upload

_INF = float("inf")


def _scores(be, q, k, causal, scale, attn_mask, key_padding_mask):
    """Scaled, masked scores (B, H, S_q, S_k) in the accumulation dtype."""
    s = be.binary("mul", be.matmul(acc(be, q), swap_last(be, acc(be, k))), scale)
    S_q, S_k = s.shape[-2:]
    ninf = be.full((), -_INF, dtype_of(s))
    if attn_mask is not None:
        s = be.where(attn_mask, s, ninf) if attn_mask.dtype == np.bool_ else be.binary("add", s, acc(be, attn_mask))
    if key_padding_mask is not None:  # (B, S_k), True = padding
        kpm = be.reshape(key_padding_mask, (key_padding_mask.shape[0], 1, 1, S_k))
        s = be.where(kpm, ninf, s)
    if causal:  # key j <= query i, PyTorch's top-left aligned tril
        s = be.where(upload(be, np.tri(S_q, S_k, dtype=bool)), s, ninf)
    return s


def _scale(q, scale):
    return 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)


class AttentionDefaults:
    def attention(self, q, k, v, causal=False, scale=None, attn_mask=None, key_padding_mask=None,
                  keep_probs=False):
        """(out, lse): lse (B, H, S_q) in float32 (float64 for float64), -inf on fully masked rows.

        ``keep_probs`` says the backward will run; a device may then keep more than the lse (the
        cpu device keeps probability blocks on it). This default recomputes everything."""
        s = _scores(self, q, k, causal, _scale(q, scale), attn_mask, key_padding_mask)
        dt = dtype_of(s)
        m = self.reduce("amax", s, (3,), True)
        m = self.where(self.unary("isfinite", m), m, self.full((), 0.0, dt))  # fully masked row: exp(-inf - 0) = 0
        e = self.unary("exp", self.binary("sub", s, m))
        tot = self.reduce("sum", e, (3,), True)                                # 0 on fully masked rows
        empty = self.binary("eq", tot, 0.0)
        lse = self.where(empty, self.full((), -_INF, dt), self.binary("add", self.unary("log", self.where(
            empty, self.full((), 1.0, dt), tot)), m))
        p = self.binary("div", e, self.where(empty, self.full((), 1.0, dt), tot))  # those rows keep p = 0
        out = back(self, self.matmul(p, acc(self, v)), q)
        return out, self.reshape(lse, tuple(lse.shape[:3]))

    def attention_backward(self, do, q, k, v, out, lse, causal=False, scale=None, attn_mask=None,
                           key_padding_mask=None):
        """(dq, dk, dv): ds = p * (do v^T - rowsum(do * out)) * scale."""
        sc = _scale(q, scale)
        s = _scores(self, q, k, causal, sc, attn_mask, key_padding_mask)
        dt = dtype_of(s)
        ls = self.reshape(self.cast(lse, dt), tuple(lse.shape) + (1,))
        ls = self.where(self.unary("isfinite", ls), ls, self.full((), _INF, dt))  # fully masked rows: p = 0
        p = self.unary("exp", self.binary("sub", s, ls))
        do_, q_, k_, v_ = (acc(self, a) for a in (do, q, k, v))
        dv = self.matmul(swap_last(self, p), do_)
        delta = self.reduce("sum", self.binary("mul", do_, acc(self, out)), (3,), True)
        ds = self.binary("mul", self.binary("mul", self.binary("sub", self.matmul(do_, swap_last(self, v_)), delta), p), sc)
        dq = self.matmul(ds, k_)
        dk = self.matmul(swap_last(self, ds), q_)
        return back(self, dq, q), back(self, dk, k), back(self, dv, v)
