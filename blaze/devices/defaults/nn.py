"""Defaults of the ``nn`` group over the core tier: linear, softmax, GELU, norms, cross-entropy,
embedding and dropout, with the cpu device's arguments and results (blaze/devices/cpu/nn.py).

Row primitives take (M, N) arrays and work along the last axis. Statistics (mean, rstd, lse,
per-row losses) come back in the accumulation dtype: float32, float64 for float64 inputs.
"""
from __future__ import annotations

import math

from ._util import acc, back, col, dtype_of, last

_R2 = 1.0 / math.sqrt(2.0)
_R2PI = 1.0 / math.sqrt(2.0 * math.pi)


class NNDefaults:
    def linear(self, x, weight, bias=None):
        """x (M, K) @ weight (N, K)^T + bias (N,) -> (M, N); the transpose is a view."""
        return self.matmul(x, self.permute(weight, (1, 0)), bias=bias)

    # -- softmax ---------------------------------------------------------------------------------
    def softmax(self, x, log: bool = False):
        a = acc(self, x)
        z = self.binary("sub", a, self.reduce("amax", a, last(a), True))
        e = self.unary("exp", z)
        s = self.reduce("sum", e, last(a), True)
        return back(self, self.binary("sub", z, self.unary("log", s)) if log else self.binary("div", e, s), x)

    def softmax_backward(self, grad_out, y, log: bool = False):
        g, yy = acc(self, grad_out), acc(self, y)
        if log:  # g - exp(y) * sum(g)
            dx = self.binary("sub", g, self.binary("mul", self.unary("exp", yy), self.reduce("sum", g, last(g), True)))
        else:    # y * (g - sum(g * y))
            dx = self.binary("mul", yy, self.binary("sub", g, self.reduce("sum", self.binary("mul", g, yy),
                                                                           last(g), True)))
        return back(self, dx, grad_out)

    # -- GELU, exact erf form ------------------------------------------------------------------------
    def gelu(self, x):
        """(y, cdf): y = x * Phi(x), cdf = 0.5 (1 + erf(x / sqrt(2))) kept for the backward."""
        a = acc(self, x)
        cdf = self.binary("mul", self.binary("add", self.unary("erf", self.binary("mul", a, _R2)), 1.0), 0.5)
        return back(self, self.binary("mul", a, cdf), x), cdf

    def gelu_backward(self, dy, x, cdf):
        """dx = dy * (Phi(x) + x * phi(x)), phi the standard normal density."""
        a = acc(self, x)
        pdf = self.binary("mul", self.unary("exp", self.binary("mul", self.binary("mul", a, a), -0.5)), _R2PI)
        d = self.binary("add", cdf, self.binary("mul", a, pdf))
        return back(self, self.binary("mul", acc(self, dy), d), dy)

    # -- layer norm / rms norm -------------------------------------------------------------------
    def _affine(self, y, weight, bias):
        if weight is not None:
            y = self.binary("mul", y, acc(self, weight))
        if bias is not None:
            y = self.binary("add", y, acc(self, bias))
        return y

    def _param_grads(self, g, xhat, weight, like, need):
        """(dw, db) of an affine row map y = xhat * w + b: column sums, in the parameter's dtype."""
        if not need:
            return None, None
        wref = weight if weight is not None else like
        dw = None if weight is None else back(self, self.reduce("sum", self.binary("mul", g, xhat), (0,), False), wref)
        return dw, back(self, self.reduce("sum", g, (0,), False), wref)

    def layer_norm(self, x, weight, bias, eps: float = 1e-5):
        """Rows of x (M, N): (x - mean) * rstd * w + b. Returns (y, mean (M,), rstd (M,))."""
        a = acc(self, x)
        mean = self.reduce("mean", a, (1,), False)
        xc = self.binary("sub", a, col(self, mean))
        rstd = self.unary("rsqrt", self.binary("add", self.reduce("mean", self.binary("mul", xc, xc), (1,), False), eps))
        y = self._affine(self.binary("mul", xc, col(self, rstd)), weight, bias)
        return back(self, y, x), mean, rstd

    def layer_norm_backward(self, dy, x, weight, mean, rstd, need_weight_grad: bool = True):
        """(dx, dw, db); dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = dy * w."""
        g, a = acc(self, dy), acc(self, x)
        r = col(self, rstd)
        xhat = self.binary("mul", self.binary("sub", a, col(self, mean)), r)
        gw = self.binary("mul", g, acc(self, weight)) if weight is not None else g
        m1 = self.reduce("mean", gw, (1,), True)
        m2 = self.reduce("mean", self.binary("mul", gw, xhat), (1,), True)
        dx = self.binary("mul", r, self.binary("sub", self.binary("sub", gw, m1), self.binary("mul", xhat, m2)))
        return (back(self, dx, dy),) + self._param_grads(g, xhat, weight, x, need_weight_grad)

    def rms_norm(self, x, weight, eps: float = 1e-6):
        """Rows of x (M, N): x * rsqrt(mean(x^2) + eps) * w. Returns (y, rstd (M,))."""
        a = acc(self, x)
        rstd = self.unary("rsqrt", self.binary("add", self.reduce("mean", self.binary("mul", a, a), (1,), False), eps))
        return back(self, self._affine(self.binary("mul", a, col(self, rstd)), weight, None), x), rstd

    def rms_norm_backward(self, dy, x, weight, rstd, need_weight_grad: bool = True):
        g, a = acc(self, dy), acc(self, x)
        r = col(self, rstd)
        xhat = self.binary("mul", a, r)
        gw = self.binary("mul", g, acc(self, weight)) if weight is not None else g
        m2 = self.reduce("mean", self.binary("mul", gw, xhat), (1,), True)
        dx = self.binary("mul", r, self.binary("sub", gw, self.binary("mul", xhat, m2)))
        dw = self._param_grads(g, xhat, weight, x, need_weight_grad and weight is not None)[0]
        return back(self, dx, dy), dw

    # -- batch norm, training statistics over (N, S) per channel of (N, C, S) ---------------------------
    def batch_norm(self, x, weight, bias, eps: float = 1e-5):
        """x (N, C, S): (x - mean_c) * rstd_c * w + b. Returns (y, mean (C,), var (C,)), var biased."""
        a = acc(self, x)
        mean = self.reduce("mean", a, (0, 2), True)                        # (1, C, 1)
        xc = self.binary("sub", a, mean)
        var = self.reduce("mean", self.binary("mul", xc, xc), (0, 2), True)
        y = self.binary("mul", xc, self.unary("rsqrt", self.binary("add", var, eps)))
        c = (1, -1, 1)
        if weight is not None:
            y = self.binary("mul", y, self.reshape(acc(self, weight), c))
        if bias is not None:
            y = self.binary("add", y, self.reshape(acc(self, bias), c))
        return back(self, y, x), self.reshape(mean, (-1,)), self.reshape(var, (-1,))

    def batch_norm_backward(self, dy, x, weight, mean, var, eps: float = 1e-5, need_weight_grad: bool = True):
        """(dx, dw, db); dx = k (g - mean(g) - xhat mean(g xhat)), k = rstd * w, per channel."""
        g, a = acc(self, dy), acc(self, x)
        c = (1, -1, 1)
        rstd = self.unary("rsqrt", self.binary("add", self.reshape(var, c), eps))
        xhat = self.binary("mul", self.binary("sub", a, self.reshape(mean, c)), rstd)
        k = rstd if weight is None else self.binary("mul", rstd, self.reshape(acc(self, weight), c))
        inner = self.binary("sub", self.binary("sub", g, self.reduce("mean", g, (0, 2), True)),
                            self.binary("mul", xhat, self.reduce("mean", self.binary("mul", g, xhat), (0, 2), True)))
        dx = back(self, self.binary("mul", k, inner), dy)
        if not need_weight_grad:
            return dx, None, None
        wref = weight if weight is not None else x
        dw = None if weight is None else back(self, self.reduce("sum", self.binary("mul", g, xhat), (0, 2), False), wref)
        return dx, dw, back(self, self.reduce("sum", g, (0, 2), False), wref)

    # -- cross-entropy -------------------------------------------------------------------------------
    def _ce_rows(self, logits, target, ignore_index, weight):
        """(x, valid (N,), target clamped to a valid class (N, 1), w[t] (N,), w or None) shared by both passes."""
        from ...dtypes import int64
        x = acc(self, logits)
        t = self.cast(target, int64)
        valid = self.binary("ne", t, ignore_index)
        tc = col(self, self.where(valid, t, self.full((), 0, int64)))
        w = acc(self, weight)
        w_t = (self.reshape(self.index_select(w, 0, self.reshape(tc, (-1,))), (-1,)) if w is not None
               else self.full((x.shape[0],), 1.0, dtype_of(x)))
        return x, valid, tc, w_t, w

    def cross_entropy(self, logits, target, ignore_index: int = -100, label_smoothing: float = 0.0, weight=None):
        """Per-row CE of logits (N, V) against int targets (N,): (loss_rows, lse, row_weight), each (N,);
        row_weight = w[t] (1 unweighted), 0 on ignored rows."""
        x, valid, tc, w_t, w = self._ce_rows(logits, target, ignore_index, weight)
        v = x.shape[1]
        lse = self.logsumexp(x, 1, False)
        x_t = self.reshape(self.gather(x, 1, tc), (-1,))
        loss = self.binary("mul", self.binary("sub", lse, x_t), w_t)
        if label_smoothing > 0:  # + eps/V * sum_c w[c] (lse - x[c])
            if w is not None:
                smooth = self.binary("sub", self.binary("mul", lse, self.reduce("sum", w, (0,), False)),
                                     self.matmul(x, w))
            else:
                smooth = self.binary("sub", self.binary("mul", lse, float(v)), self.reduce("sum", x, (1,), False))
            loss = self.binary("add", self.binary("mul", loss, 1.0 - label_smoothing),
                               self.binary("mul", smooth, label_smoothing / v))
        zero = self.full((), 0.0, dtype_of(x))
        return self.where(valid, loss, zero), lse, self.where(valid, w_t, zero)

    def cross_entropy_backward(self, grad_rows, logits, target, lse, ignore_index: int = -100,
                               label_smoothing: float = 0.0, weight=None):
        """d loss / d logits (N, V) = g_r * (p * coef_p - coef_t * onehot - eps/V * w); 0 on ignored rows."""
        from ...dtypes import int64
        x, valid, tc, w_t, w = self._ce_rows(logits, target, ignore_index, weight)
        n, v = x.shape
        eps = float(label_smoothing)
        coef_t = self.binary("mul", w_t, 1.0 - eps)
        total_w = self.reduce("sum", w, (0,), False) if w is not None else float(v)
        coef_p = self.binary("add", coef_t, self.binary("mul", total_w, eps / v)) if eps > 0 else w_t
        p = self.unary("exp", self.binary("sub", x, col(self, lse)))
        onehot = self.cast(self.binary("eq", self.reshape(self.arange(0, v, 1, int64), (1, v)), tc), dtype_of(x))
        d = self.binary("sub", self.binary("mul", p, col(self, coef_p)), self.binary("mul", onehot, col(self, coef_t)))
        if eps > 0:
            d = self.binary("sub", d, self.binary("mul", self.reshape(w, (1, v)), eps / v) if w is not None else eps / v)
        g = self.reshape(acc(self, grad_rows), (-1, 1))  # (N, 1), or (1, 1) for a scalar gradient
        d = self.where(col(self, valid), self.binary("mul", d, g), self.full((), 0.0, dtype_of(x)))
        return back(self, d, logits)

    # -- embedding -------------------------------------------------------------------------------------
    def embedding(self, weight, ids):
        """weight[ids]: ids.shape + (D,)."""
        rows = self.index_select(weight, 0, self.reshape(ids, (-1,)))
        return self.reshape(rows, tuple(ids.shape) + (weight.shape[-1],))

    def embedding_backward(self, grad, ids, num_embeddings: int, padding_idx=None):
        """dW (V, D): scatter-add of grad rows by id (accumulating index_put); the padding_idx row stays zero."""
        g = acc(self, grad)
        d = g.shape[-1]
        dw = self.full((num_embeddings, d), 0.0, dtype_of(g))
        self.index_put(dw, (self.reshape(ids, (-1,)),), self.reshape(g, (-1, d)), True)
        if padding_idx is not None:
            self.setitem(dw, (padding_idx,), 0.0)
        return dw

    # -- dropout ---------------------------------------------------------------------------------------
    def _keep(self, shape, p, gen):
        from ...dtypes import float32
        return self.binary("ge", self.uniform(tuple(shape), float32, gen), p)  # Bernoulli(1 - p)

    def dropout(self, x, p: float, gen):
        """(y, state): y = x * keep / (1 - p); ``state`` is the keep mask the backward multiplies by."""
        if p >= 1.0:
            from ...dtypes import bool_
            return self.full(tuple(x.shape), 0, dtype_of(x)), self.full(tuple(x.shape), False, bool_)
        keep = self._keep(x.shape, p, gen)
        return self.dropout_backward(x, p, keep), keep

    def dropout_backward(self, dy, p: float, state):
        if p >= 1.0:
            return self.full(tuple(dy.shape), 0, dtype_of(dy))
        scaled = self.binary("mul", self.cast(state, dtype_of(dy)), 1.0 / (1.0 - p))
        return self.binary("mul", dy, scaled)

    def dropout_mask(self, shape, p: float, gen):
        """Keep mask of ``shape`` scaled by 1/(1-p), float32 (for channel-wise dropout)."""
        from ...dtypes import float32
        if p >= 1.0:
            return self.full(tuple(shape), 0.0, float32)
        return self.binary("mul", self.cast(self._keep(shape, p, gen), float32), 1.0 / (1.0 - p))
