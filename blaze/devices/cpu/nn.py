"""Fused neural-network primitives of the CPU backend: softmax, norms, cross-entropy, embedding, dropout, linear.

Kept apart from the generic primitives in ``backend.py``: each mirrors a Triton
launcher in ``blaze/kernels/`` (softmax.py, layernorm.py, loss.py, embedding.py,
random.py, matmul.py) in name, arguments and results, so the Triton backend can implement
the same names. Row primitives take 2-D (M, N) arrays and work along the last axis; the
op layer moves the reduced dim last and flattens the rest. Statistics (mean, rstd, lse,
per-row losses) are float32 as in the kernels, float64 for float64 inputs (so float64
finite-difference gradient checks stay exact).
"""
from __future__ import annotations

import math

import numpy as np

from ..._optable import np_erf as _erf
from .parallel import matmul as _gemm


def _add_into(y, b):
    """y + b, in place when y (a fresh result) already has the sum's dtype: a (1024, 2048) float32
    sum allocated anew is 8 MiB more to fault in and one more pass over memory."""
    if b is None:
        return y
    bs = np.shape(b)
    fits = len(bs) <= y.ndim and all(n in (1, m) for n, m in zip(bs[::-1], y.shape[::-1]))   # y's shape holds
    if not fits or np.result_type(y, b) != y.dtype:
        return y + b
    np.add(y, b, out=y)
    return y


def _acc(dtype) -> np.dtype:
    """Accumulation/statistics dtype: float64 stays float64, everything else computes in float32."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


class NumpyNNPrimitives:
    # -- softmax (kernels/softmax.py) -----------------------------------------------------
    def softmax(self, x, log: bool = False):
        """Softmax (log-softmax if ``log``) of each row of a 2-D array; result in x's dtype."""
        a = x.astype(_acc(x.dtype), copy=False)
        z = a - a.max(axis=-1, keepdims=True)
        if log:
            y = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        else:
            e = np.exp(z)
            y = e / e.sum(axis=-1, keepdims=True)
        return y.astype(x.dtype, copy=False)

    def softmax_backward(self, grad_out, y, log: bool = False):
        """dx from the saved output y: softmax: y * (g - sum(g*y)); log_softmax: g - exp(y) * sum(g)."""
        acc = _acc(grad_out.dtype)
        g, yy = grad_out.astype(acc, copy=False), y.astype(acc, copy=False)
        if log:
            dx = g - np.exp(yy) * g.sum(axis=-1, keepdims=True)
        else:
            dx = yy * (g - (g * yy).sum(axis=-1, keepdims=True))
        return dx.astype(grad_out.dtype, copy=False)

    # -- GELU, exact erf form (one Function instead of 5 forward and ~12 backward Tensor ops) -----
    def gelu(self, x):
        """(y, cdf): y = x * cdf, cdf = Phi(x) = 0.5 (1 + erf(x / sqrt(2))), kept for the backward."""
        acc = _acc(x.dtype)
        a = x.astype(acc, copy=False)
        cdf = _erf(a * acc.type(1.0 / math.sqrt(2.0)))            # fresh array, finished in place
        cdf += acc.type(1.0)
        cdf *= acc.type(0.5)
        return np.multiply(a, cdf).astype(x.dtype, copy=False), cdf

    def gelu_backward(self, dy, x, cdf):
        """dx = dy * (Phi(x) + x * phi(x)), phi the standard normal density; cdf from :meth:`gelu`."""
        acc = _acc(dy.dtype)
        a = x.astype(acc, copy=False)
        with np.errstate(over="ignore"):                          # |x| > 1.8e19: phi = exp(-inf) = 0
            d = np.square(a)
        d *= acc.type(-0.5)
        np.exp(d, out=d)
        d *= a
        d *= acc.type(1.0 / math.sqrt(2.0 * math.pi))
        d += cdf
        d *= dy
        return d.astype(dy.dtype, copy=False)

    # -- layer norm / rms norm (kernels/layernorm.py) --------------------------------------
    def layer_norm(self, x, weight, bias, eps: float = 1e-5):
        """Rows of x (M, N): (x - mean) * rstd * w + b. Returns (y, mean (M,), rstd (M,))."""
        acc = _acc(x.dtype)
        a = x.astype(acc, copy=False)
        mean = a.mean(axis=-1)
        xc = a - mean[:, None]
        rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1) + eps)
        y = xc * rstd[:, None]
        if weight is not None:
            y = y * weight.astype(acc, copy=False)
        if bias is not None:
            y = y + bias.astype(acc, copy=False)
        return y.astype(x.dtype, copy=False), mean.astype(acc), rstd.astype(acc)

    def layer_norm_backward(self, dy, x, weight, mean, rstd, need_weight_grad: bool = True):
        """(dx, dw, db) of :meth:`layer_norm`; dw None without weight, dw/db None unless asked."""
        acc = _acc(dy.dtype)
        g, a = dy.astype(acc, copy=False), x.astype(acc, copy=False)
        xhat = (a - mean[:, None]) * rstd[:, None]
        gw = g * weight.astype(acc, copy=False) if weight is not None else g
        n = a.shape[-1]
        # dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat))
        dx = rstd[:, None] * (gw - gw.sum(-1, keepdims=True) / n - xhat * (gw * xhat).sum(-1, keepdims=True) / n)
        dw = db = None
        if need_weight_grad:
            wdt = weight.dtype if weight is not None else x.dtype
            if weight is not None:
                dw = (g * xhat).sum(0).astype(wdt)
            db = g.sum(0).astype(wdt)
        return dx.astype(dy.dtype, copy=False), dw, db

    # -- batch norm, training statistics (N, C, S): per channel over N and S -------------------
    def batch_norm(self, x, weight, bias, eps: float = 1e-5):
        """x (N, C, S): (x - mean_c) * rstd_c * w + b. Returns (y, mean (C,), var (C,)), var biased.

        In-place passes on one output buffer: freshly allocated 3 MB temporaries cost page
        faults that made each extra pass ~1 ms instead of 0.1 ms (64x16x784 float32).
        """
        acc = _acc(x.dtype)
        a = x.astype(acc, copy=False)
        inv = 1.0 / (a.shape[0] * a.shape[2])
        mean = a.sum(axis=(0, 2)) * inv
        y = np.subtract(a, mean[:, None])                           # x - mean, then scaled in place
        var = np.einsum("ncs,ncs->c", y, y) * inv                  # SIMD partial sums: ~2e-7 rel. error
        rstd = 1.0 / np.sqrt(var + eps)
        scale = rstd if weight is None else rstd * weight.astype(acc, copy=False)
        y *= scale[:, None]
        if bias is not None:
            y += bias.astype(acc, copy=False)[:, None]
        return y.astype(x.dtype, copy=False), mean.astype(acc), var.astype(acc)

    def batch_norm_backward(self, dy, x, weight, mean, var, eps: float = 1e-5, need_weight_grad: bool = True):
        """(dx, dw, db) of :meth:`batch_norm`; dw None without weight, dw/db None unless asked."""
        acc = _acc(dy.dtype)
        g, a = dy.astype(acc, copy=False), x.astype(acc, copy=False)
        inv = 1.0 / (a.shape[0] * a.shape[2])
        rstd = 1.0 / np.sqrt(var.astype(acc) + eps)
        k = rstd if weight is None else rstd * weight.astype(acc, copy=False)
        dx = np.subtract(a, mean.astype(acc)[:, None])              # xc, becomes dx in place
        sg = g.sum(axis=(0, 2))                                     # db
        sgx = np.einsum("ncs,ncs->c", g, dx)                        # sum(g * xhat) / rstd
        # dx = k (g - mean(g) - xhat mean(g xhat)) = xc * c1 + k g + c0, per-channel c1, c0
        dx *= (-k * rstd * rstd * sgx * inv)[:, None]
        dx += g * k[:, None]
        dx += (-k * sg * inv)[:, None]
        dw = db = None
        if need_weight_grad:
            wdt = weight.dtype if weight is not None else x.dtype
            if weight is not None:
                dw = (sgx * rstd).astype(wdt)
            db = sg.astype(wdt)
        return dx.astype(dy.dtype, copy=False), dw, db

    def rms_norm(self, x, weight, eps: float = 1e-6):
        """Rows of x (M, N): x * rsqrt(mean(x^2) + eps) * w. Returns (y, rstd (M,))."""
        acc = _acc(x.dtype)
        a = x.astype(acc, copy=False)
        rstd = 1.0 / np.sqrt((a * a).mean(axis=-1) + eps)
        y = a * rstd[:, None]
        if weight is not None:
            y = y * weight.astype(acc, copy=False)
        return y.astype(x.dtype, copy=False), rstd.astype(acc)

    def rms_norm_backward(self, dy, x, weight, rstd, need_weight_grad: bool = True):
        """(dx, dw) of :meth:`rms_norm`; dw None without weight or when not asked."""
        acc = _acc(dy.dtype)
        g, a = dy.astype(acc, copy=False), x.astype(acc, copy=False)
        xhat = a * rstd[:, None]
        gw = g * weight.astype(acc, copy=False) if weight is not None else g
        n = a.shape[-1]
        dx = rstd[:, None] * (gw - xhat * (gw * xhat).sum(-1, keepdims=True) / n)
        dw = (g * xhat).sum(0).astype(weight.dtype) if need_weight_grad and weight is not None else None
        return dx.astype(dy.dtype, copy=False), dw

    # -- cross-entropy (kernels/loss.py) --------------------------------------------------
    def cross_entropy(self, logits, target, ignore_index: int = -100, label_smoothing: float = 0.0, weight=None):
        """Per-row CE of logits (N, V) against int targets (N,).

        Returns (loss_rows, lse, row_weight), each (N,): row_weight = w[t] (1 unweighted), 0 on
        ignored rows, so reduction='mean' is sum(loss_rows) / sum(row_weight).
        loss_r = (1-eps) w[t] (lse - x[t]) + eps/V * sum_c w[c] (lse - x[c]).
        """
        acc = _acc(logits.dtype)
        x = logits.astype(acc, copy=False)
        n, v = x.shape
        m = x.max(axis=1, keepdims=True) if v else np.zeros((n, 1), acc)
        m = np.where(np.isneginf(m), 0.0, m)
        lse = (m[:, 0] + np.log(np.exp(x - m).sum(axis=1))).astype(acc)
        t = target.astype(np.int64)
        valid = t != ignore_index
        tc = np.where(valid, t, 0)
        x_t = x[np.arange(n), tc] if n else np.zeros((0,), acc)
        w = weight.astype(acc, copy=False) if weight is not None else None
        w_t = w[tc] if w is not None else np.ones(n, acc)
        loss = (lse - x_t) * w_t
        if label_smoothing > 0:
            if w is not None:
                smooth = lse * w.sum() - x @ w
            else:
                smooth = lse * v - x.sum(axis=1)
            loss = (1.0 - label_smoothing) * loss + label_smoothing / v * smooth
        loss = np.where(valid, loss, 0.0).astype(acc)
        return loss, lse, np.where(valid, w_t, 0.0).astype(acc)

    def cross_entropy_backward(self, grad_rows, logits, target, lse, ignore_index: int = -100,
                               label_smoothing: float = 0.0, weight=None):
        """d loss / d logits (N, V) = g_r * (p * coef_p - coef_t * onehot - eps/V * w); 0 on ignored rows."""
        acc = _acc(logits.dtype)
        x = logits.astype(acc, copy=False)
        n, v = x.shape
        t = target.astype(np.int64)
        valid = t != ignore_index
        tc = np.where(valid, t, 0)
        w = weight.astype(acc, copy=False) if weight is not None else None
        w_t = w[tc] if w is not None else np.ones(n, acc)
        eps = float(label_smoothing)
        coef_t = (1.0 - eps) * w_t
        total_w = w.sum() if w is not None else float(v)
        coef_p = coef_t + eps / v * total_w if eps > 0 else w_t
        p = np.exp(x - lse[:, None])
        d = p * coef_p[:, None]
        d[np.arange(n), tc] -= coef_t
        if eps > 0:
            d -= eps / v * (w[None, :] if w is not None else 1.0)
        g = np.broadcast_to(grad_rows.astype(acc, copy=False), (n,))
        d = np.where(valid[:, None], d * g[:, None], 0.0)
        return d.astype(logits.dtype, copy=False)

    # -- embedding (kernels/embedding.py) -------------------------------------------------
    def embedding(self, weight, ids):
        """weight[ids]: ids.shape + (D,)."""
        return weight[ids]

    def embedding_backward(self, grad, ids, num_embeddings: int, padding_idx=None):
        """dW (V, D): scatter-add of grad rows by id; the padding_idx row stays zero."""
        acc = _acc(grad.dtype)
        d = grad.shape[-1]
        dw = np.zeros((num_embeddings, d), acc)
        flat = ids.reshape(-1).astype(np.int64)
        np.add.at(dw, flat, grad.reshape(-1, d).astype(acc, copy=False))  # (n_ids, D) rows into (V, D)
        if padding_idx is not None:
            dw[padding_idx] = 0
        return dw

    # -- dropout (kernels/random.py) ------------------------------------------------------
    def dropout(self, x, p: float, gen):
        """y = x * keep / (1 - p), keep ~ Bernoulli(1 - p) from ``gen``. Returns (y, state) where
        ``state`` (here the keep mask) is what :meth:`dropout_backward` needs; the Triton
        backend returns its Philox (seed, offset) instead and regenerates the mask."""
        if p >= 1.0:
            keep = np.zeros(x.shape, bool)
            return np.zeros_like(x), keep
        keep = gen.rng.random(size=x.shape) >= p
        scale = np.asarray(1.0 / (1.0 - p), dtype=x.dtype)
        return (x * keep * scale).astype(x.dtype, copy=False), keep

    def dropout_backward(self, dy, p: float, state):
        if p >= 1.0:
            return np.zeros_like(dy)
        scale = np.asarray(1.0 / (1.0 - p), dtype=dy.dtype)
        return (dy * state * scale).astype(dy.dtype, copy=False)

    def dropout_mask(self, shape, p: float, gen):
        """Keep mask of ``shape`` scaled by 1/(1-p), as a float array (for channel-wise dropout)."""
        if p >= 1.0:
            return np.zeros(shape, np.float32)
        return (gen.rng.random(size=shape) >= p).astype(np.float32) / np.float32(1.0 - p)

    # -- linear (kernels/matmul.py with a bias epilogue) ----------------------------------
    def linear(self, x, weight, bias=None):
        """x (M, K) @ weight (N, K)^T + bias (N,) -> (M, N)."""
        y = _add_into(_gemm(x, weight.T), bias)
        return y.astype(x.dtype, copy=False)
