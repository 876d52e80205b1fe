"""Fused neural-network primitives of the cuda backend: one launcher call each.

Names, arguments and results mirror ``devices/cpu/nn.py`` / ``devices/cpu/conv.py`` (which mirror the
launchers in ``blaze/kernels``), so most methods only adapt argument forms: row
primitives need contiguous classes/columns, some launchers want int64 ids.
Recurrent layers loop over time on the device: one GEMM and one fused step kernel per step.
"""
from __future__ import annotations

import numpy as np

from ... import _flags
from ...kernels import attention as _attn
from ...kernels import conv as _conv
from ...kernels import embedding as _emb
from ...kernels import layernorm as _ln
from ...kernels import loss as _loss
from ...kernels import matmul as _mm
from ...kernels import pooling as _pool
from ...kernels import random as _rnd
from ...kernels import rnn as _rnn
from ...kernels import softmax as _sm
from .memory import DeviceArray
from .memory import _contig_strides as _strides

_SQRT1_2 = 0.7071067811865476        # 1 / sqrt(2)
_INV_SQRT_2PI = 0.3989422804014327   # 1 / sqrt(2 pi)


def _rows(x):
    """Rows with a contiguous last dim (what row kernels read)."""
    return x if x.ndim == 0 or x.strides[-1] == 1 or x.shape[-1] <= 1 else _copy(x)


def _copy(x):
    from ...kernels import elementwise as _ew
    out = x.new(x.shape, x.dtype)
    _ew.copy(x, out)
    return out


def _pair(v):
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)


class TritonNNPrimitives:
    # -- linear algebra ------------------------------------------------------------------------
    def matmul(self, a, b, bias=None, residual=None, activation=None):
        """numpy.matmul semantics (1-D operands promoted and squeezed), optional fused epilogue."""
        a1, b1 = a.ndim == 1, b.ndim == 1
        if a1:
            a = a.view_as((1, a.shape[0]), (0, a.strides[0]))
        if b1:
            b = b.view_as((b.shape[0], 1), (b.strides[0], 0))
        try:
            out = _mm.matmul(a, b, bias=bias, residual=residual, activation=activation, allow_tf32=_flags.allow_tf32)
        except ValueError as e:
            if "cannot be merged" not in str(e):
                raise
            # batch dims the kernel can't address with one stride (broadcast 2 x 3 against 3, say):
            # materialise both operands over the broadcast batch shape
            batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
            a = self.contiguous(self.expand(a, batch + a.shape[-2:]))
            b = self.contiguous(self.expand(b, batch + b.shape[-2:]))
            out = _mm.matmul(a, b, bias=bias, residual=residual, activation=activation, allow_tf32=_flags.allow_tf32)
        if a1 or b1:
            shape = list(out.shape)
            if b1:
                shape.pop(-1)
            if a1:
                shape.pop(-1 if b1 else -2)
            out = out.view_as(tuple(shape), _strides(shape))
        return out

    def linear(self, x, weight, bias=None):
        """x (M, K) @ weight (N, K)^T + bias (N,) -> (M, N); the transpose is a strided view."""
        wt = weight.view_as((weight.shape[1], weight.shape[0]), (weight.strides[1], weight.strides[0]))
        return self.matmul(x, wt, bias=bias)

    def linear_act(self, x, weight, bias=None, residual=None, activation=None):
        """(y, pre) from one GEMM whose epilogue applies bias, activation and residual and also
        stores the pre-activation (one extra (M, N) write instead of a second pass over y)."""
        wt = weight.view_as((weight.shape[1], weight.shape[0]), (weight.strides[1], weight.strides[0]))
        r = _mm.matmul(x, wt, bias=bias, residual=residual, activation=activation, allow_tf32=_flags.allow_tf32,
                       save_preact=activation is not None)
        return r if activation is not None else (r, None)

    def linear_act_backward(self, grad, x, weight, pre, activation=None, need_input=True, need_weight=True,
                            need_bias=False):
        """dact(pre) and both gradient GEMMs in the matmul backward kernels; dw is written through a
        transposed view, so it lands as (N, K) without a copy."""
        n, k = weight.shape
        wt = weight.view_as((k, n), (weight.strides[1], weight.strides[0]))
        dw = DeviceArray.empty((n, k), weight.dtype) if need_weight else None
        dx, _, db = _mm.matmul_backward(grad, x, wt, preact=pre, activation=activation, need_a=need_input,
                                        need_b=need_weight, need_bias=need_bias, allow_tf32=_flags.allow_tf32,
                                        out_b=None if dw is None else dw.view_as((k, n), (1, k)))
        return dx, dw, db

    def add_layer_norm(self, x, residual, weight, bias, eps: float = 1e-5):
        """(y, h, mean, rstd) from one kernel: h = x + residual is stored as the rows are normalised."""
        return _ln.add_layer_norm(_rows(x), _rows(residual), weight, bias, eps)

    def add_layer_norm_backward(self, dy, dh, h, weight, mean, rstd, need_weight_grad: bool = True):
        """One kernel (+ the dw/db partial sums): layer_norm's dx with dh added before the store."""
        return _ln.add_layer_norm_backward(_rows(dy), None if dh is None else _rows(dh), _rows(h), weight, mean, rstd,
                                           need_weight_grad)

    def bias_dropout_add(self, x, bias, residual, p: float, gen):
        """(out, state): one kernel; ``state`` is :meth:`dropout`'s (seed, offset, p), so
        :meth:`dropout_backward` regenerates the mask (nothing of (M, N) is kept for the backward)."""
        if p <= 0:
            return _rnd.bias_dropout_add(x, bias, residual, 0.0), None
        if p >= 1.0:   # as dropout: no random numbers drawn
            return _rnd.bias_dropout_add(x, bias, residual, 1.0), (0, 0, 1.0)
        seed, offset = gen.philox(x.size)
        return _rnd.bias_dropout_add(x, bias, residual, p, seed, offset), (seed, offset, p)

    # -- softmax / norms / losses ------------------------------------------------------------
    def softmax(self, x, log: bool = False):
        return _sm.softmax(_rows(x), log=log)

    def softmax_backward(self, grad_out, y, log: bool = False):
        return _sm.softmax_backward(_rows(grad_out), _rows(y), log=log)

    def gelu(self, x):
        """(y, None): one fused kernel; the backward recomputes Phi(x) rather than keep it (a saved
        cdf costs a full activation of memory between forward and backward)."""
        return self.unary("gelu", x), None

    def gelu_backward(self, dy, x, cdf):
        if cdf is None:
            cdf = self.binary("mul", self.binary("add", self.unary("erf", self.binary("mul", x, _SQRT1_2)), 1.0), 0.5)
        pdf = self.unary("exp", self.binary("mul", self.binary("mul", x, x), -0.5))       # sqrt(2 pi) * phi(x)
        d = self.binary("add", cdf, self.binary("mul", self.binary("mul", x, pdf), _INV_SQRT_2PI))
        return self.binary("mul", dy, d)

    def layer_norm(self, x, weight, bias, eps: float = 1e-5):
        return _ln.layer_norm(_rows(x), weight, bias, eps)

    def layer_norm_backward(self, dy, x, weight, mean, rstd, need_weight_grad: bool = True):
        return _ln.layer_norm_backward(_rows(dy), _rows(x), weight, mean, rstd, need_weight_grad)

    def rms_norm(self, x, weight, eps: float = 1e-6):
        return _ln.rms_norm(_rows(x), weight, eps)

    def rms_norm_backward(self, dy, x, weight, rstd, need_weight_grad: bool = True):
        return _ln.rms_norm_backward(_rows(dy), _rows(x), weight, rstd, need_weight_grad)

    # batch norm has no kernel yet: composed from the device's elementwise and reduction primitives
    def batch_norm(self, x, weight, bias, eps: float = 1e-5):
        c, inv = x.shape[1], 1.0 / (x.shape[0] * x.shape[2])
        mean = self.binary("mul", self.reduce("sum", x, (0, 2), True), inv)                    # (1, C, 1)
        xc = self.binary("sub", x, mean)
        var = self.binary("mul", self.reduce("sum", self.binary("mul", xc, xc), (0, 2), True), inv)
        scale = self.unary("rsqrt", self.binary("add", var, eps))
        if weight is not None:
            scale = self.binary("mul", scale, self.reshape(weight, (1, c, 1)))
        y = self.binary("mul", xc, scale)
        if bias is not None:
            y = self.binary("add", y, self.reshape(bias, (1, c, 1)))
        return y, self.reshape(mean, (c,)), self.reshape(var, (c,))

    def batch_norm_backward(self, dy, x, weight, mean, var, eps: float = 1e-5, need_weight_grad: bool = True):
        c, inv = x.shape[1], 1.0 / (x.shape[0] * x.shape[2])
        rstd = self.reshape(self.unary("rsqrt", self.binary("add", var, eps)), (1, c, 1))
        k = rstd if weight is None else self.binary("mul", rstd, self.reshape(weight, (1, c, 1)))
        xc = self.binary("sub", x, self.reshape(mean, (1, c, 1)))
        sg = self.reduce("sum", dy, (0, 2), True)
        sgx = self.reduce("sum", self.binary("mul", dy, xc), (0, 2), True)
        c1 = self.binary("mul", self.binary("mul", k, self.binary("mul", rstd, rstd)), self.binary("mul", sgx, -inv))
        c0 = self.binary("mul", k, self.binary("mul", sg, -inv))
        dx = self.binary("add", self.binary("add", self.binary("mul", dy, k), self.binary("mul", xc, c1)), c0)
        dw = db = None
        if need_weight_grad:
            if weight is not None:
                dw = self.reshape(self.binary("mul", sgx, rstd), (c,))
            db = self.reshape(sg, (c,))
        return dx, dw, db

    def cross_entropy(self, logits, target, ignore_index: int = -100, label_smoothing: float = 0.0, weight=None):
        return _loss.cross_entropy(_rows(logits), self._ids(target), ignore_index, label_smoothing, weight)

    def cross_entropy_backward(self, grad_rows, logits, target, lse, ignore_index: int = -100,
                               label_smoothing: float = 0.0, weight=None):
        if grad_rows.shape != (logits.shape[0],):  # a scalar upstream grad broadcasts over rows (stride 0)
            grad_rows = grad_rows.view_as((logits.shape[0],), (0,))
        return _loss.cross_entropy_backward(grad_rows, _rows(logits), self._ids(target), lse, ignore_index,
                                            label_smoothing, weight)

    def _ids(self, ids):
        return ids if str(ids.dtype) in ("int64", "int32") else self.cast(ids, np.int64)

    # -- embedding / dropout -------------------------------------------------------------------
    def embedding(self, weight, ids):
        return _emb.embedding(_rows(weight), self._ids(ids))

    def embedding_backward(self, grad, ids, num_embeddings: int, padding_idx=None):
        if _flags.deterministic:  # fp32 atomics add duplicate ids in arrival order; NumPy adds in id order
            from ..cpu.nn import NumpyNNPrimitives
            return self._fallback("embedding_backward", NumpyNNPrimitives.embedding_backward, grad, ids,
                                  num_embeddings, padding_idx)
        return _emb.embedding_backward(_rows(grad), self._ids(ids), num_embeddings, padding_idx)

    def dropout(self, x, p: float, gen):
        """(y, (seed, offset)): backward regenerates the keep mask from the Philox stream."""
        if p >= 1.0:
            return self.full(x.shape, 0, x.dtype), (0, 0, 1.0)
        seed, offset = gen.philox(x.size)
        return _rnd.dropout(x, p, seed, offset), (seed, offset, p)

    def dropout_backward(self, dy, p: float, state):
        if p >= 1.0:
            return self.full(dy.shape, 0, dy.dtype)
        seed, offset, _ = state
        return _rnd.dropout_backward(dy, p, seed, offset)

    def dropout_mask(self, shape, p: float, gen):
        if p >= 1.0:
            return self.full(shape, 0, np.float32)
        out = DeviceArray.empty(tuple(shape), np.float32)
        if out.size:
            seed, offset = gen.philox(out.size)
            _rnd.bernoulli_(out, 1.0 - p, seed=seed, offset=offset)
        return self.binary("mul", out, 1.0 / (1.0 - p))

    # -- convolution ---------------------------------------------------------------------------
    def conv2d(self, x, w, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        return _conv.conv2d(x, w, bias, _pair(stride), _pair(padding), _pair(dilation), groups,
                            allow_tf32=_flags.allow_tf32)

    def conv2d_backward_input(self, grad_out, w, input_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                              groups=1):
        return _conv.conv2d_backward_input(grad_out, w, tuple(input_shape), _pair(stride), _pair(padding),
                                           _pair(dilation), groups)

    def conv2d_backward_weight(self, grad_out, x, weight_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                               groups=1):
        return _conv.conv2d_backward_weight(grad_out, x, tuple(weight_shape), _pair(stride), _pair(padding),
                                            _pair(dilation), groups)

    def conv2d_backward_bias(self, grad_out):
        return _conv.conv2d_backward_bias(grad_out)

    # -- pooling -------------------------------------------------------------------------------
    def max_pool2d(self, x, kernel_size, stride, padding=(0, 0), dilation=(1, 1), ceil_mode=False):
        return _pool.max_pool2d(x, _pair(kernel_size), _pair(stride), _pair(padding), _pair(dilation), ceil_mode)

    def max_pool2d_backward(self, dy, indices, input_shape, kernel_size=None, stride=None, padding=(0, 0),
                            dilation=(1, 1), ceil_mode=False):
        return _pool.max_pool2d_backward(dy, indices, tuple(input_shape), _pair(kernel_size), _pair(stride),
                                         _pair(padding), _pair(dilation), ceil_mode)

    def avg_pool2d(self, x, kernel_size, stride, padding=(0, 0), ceil_mode=False, count_include_pad=True,
                   divisor_override=None):
        return _pool.avg_pool2d(x, _pair(kernel_size), _pair(stride), _pair(padding), ceil_mode, count_include_pad,
                                divisor_override)

    def avg_pool2d_backward(self, dy, input_shape, kernel_size, stride, padding=(0, 0), ceil_mode=False,
                            count_include_pad=True, divisor_override=None):
        return _pool.avg_pool2d_backward(dy, tuple(input_shape), _pair(kernel_size), _pair(stride), _pair(padding),
                                         ceil_mode, count_include_pad, divisor_override)

    def adaptive_avg_pool2d(self, x, output_size):
        return _pool.adaptive_avg_pool2d(x, _pair(output_size))

    def adaptive_avg_pool2d_backward(self, dy, input_shape):
        return _pool.adaptive_avg_pool2d_backward(dy, tuple(input_shape))

    # -- resampling: separable matrices (shape-only constants, uploaded) and two GEMMs ---------
    def _resample(self, in_hw, out_hw, mode, align_corners, scales, dtype):
        from ..cpu.conv import NumpyConvPrimitives
        ct = np.float32
        mh, mw = NumpyConvPrimitives._resample_mats(self, in_hw, out_hw, mode, align_corners, scales, ct)
        return self.from_numpy(np.ascontiguousarray(mh)), self.from_numpy(np.ascontiguousarray(mw))

    def interpolate2d(self, x, size, mode, align_corners=False, scales=None):
        mh, mw = self._resample(x.shape[2:], size, mode, align_corners, scales, x.dtype)
        xf = x if x.dtype == np.float32 else self.cast(x, np.float32)
        y = self.matmul(self.matmul(mh, xf), _t(mw))  # (OH, H) @ (N, C, H, W) @ (W, OW)
        return y if x.dtype == np.float32 else self.cast(y, x.dtype)

    def interpolate2d_backward(self, dy, input_shape, mode, align_corners=False, scales=None):
        mh, mw = self._resample(input_shape[2:], dy.shape[2:], mode, align_corners, scales, dy.dtype)
        g = dy if dy.dtype == np.float32 else self.cast(dy, np.float32)
        dx = self.matmul(self.matmul(_t(mh), g), mw)
        return dx if dy.dtype == np.float32 else self.cast(dx, dy.dtype)

    # -- attention -----------------------------------------------------------------------------
    def attention(self, q, k, v, causal=False, scale=None, attn_mask=None, key_padding_mask=None,
                  keep_probs=False):
        """(out, lse) of the flash kernel, which never keeps probabilities (``keep_probs`` is a hint)."""
        return _attn.attention(q, k, v, causal=causal, scale=scale, attn_mask=attn_mask,
                               key_padding_mask=key_padding_mask)

    def attention_backward(self, do, q, k, v, out, lse, causal=False, scale=None, attn_mask=None,
                           key_padding_mask=None):
        return _attn.attention_backward(do, q, k, v, out, lse, causal=causal, scale=scale, attn_mask=attn_mask,
                                        key_padding_mask=key_padding_mask)

    # -- recurrent layers: a loop over time on the device (kernels/rnn.py) ---------------------
    # Per step one GEMM (h_{t-1} @ W_hh^T, its epilogue adding gx[t] as a residual, or b_hh as a
    # bias for GRU) writes straight into the step's slot of the saved gate sequence, and one
    # fused pointwise kernel activates it in place. Backward: per step one pointwise kernel and
    # one GEMM carrying dh to step t-1; W_hh's gradient is one (G, (T-1)*B) x ((T-1)*B, H) GEMM
    # over all steps after the loop, plus the step-0 term (G, B) x (B, H) as its residual.
    def _gemm(self, a, b, bias=None, residual=None, out=None):
        return _mm.matmul(a, b, bias=bias, residual=residual, out=out, allow_tf32=_flags.allow_tf32)

    def _as(self, x, dt):
        return x if x is None or x.dtype == dt else self.cast(x, dt)

    def _dw_hh(self, dpre, h0, hs):
        """sum_t dpre[t]^T @ h_{t-1} (G, H) with h_{-1} = h0: one GEMM over steps 1..T-1."""
        T, B, G = dpre.shape
        dw = self._gemm(_t(dpre[0]), h0)                                  # (G, B) @ (B, H)
        if T > 1:
            dp = self.reshape(dpre[1:], ((T - 1) * B, G))                # (T-1, B, G) -> ((T-1)B, G)
            hp = self.reshape(hs[:-1], ((T - 1) * B, hs.shape[2]))       # (T-1, B, H) -> ((T-1)B, H)
            self._gemm(_t(dp), hp, residual=dw, out=dw)
        return dw

    def lstm_forward(self, gx, h0, c0, w_hh):
        """(hs, cs, gates after their nonlinearities), as NumpyConvPrimitives.lstm_forward."""
        T, B, H4 = gx.shape
        H = H4 // 4
        h0, c0, w_hh = (self._as(a, gx.dtype) for a in (h0, c0, w_hh))
        hs, cs, gates = gx.new((T, B, H)), gx.new((T, B, H)), gx.new((T, B, H4))
        wt = _t(w_hh)                                                   # (H, 4H) view
        h, c = h0, c0
        for t in range(T):
            g = self._gemm(h, wt, residual=gx[t], out=gates[t])           # pre-activations, in place next
            _rnn.lstm_step(g, c, gates_out=g, c_out=cs[t], h_out=hs[t])
            h, c = hs[t], cs[t]
        return hs, cs, gates

    def lstm_backward(self, dhs, dh_n, dc_n, gates, hs, cs, h0, c0, w_hh):
        """(dgx (T, B, 4H), dh0, dc0, dw_hh (4H, H)) of :meth:`lstm_forward`."""
        T, B, H4 = gates.shape
        H, dt = H4 // 4, gates.dtype
        dhs, dh_n, dc_n, h0, c0, w_hh = (self._as(a, dt) for a in (dhs, dh_n, dc_n, h0, c0, w_hh))
        dgates = gates.new((T, B, H4))
        dh, dc = dh_n, dc_n
        dh_buf, dc_buf = gates.new((B, H)), gates.new((B, H))          # carries (inputs stay untouched)
        for t in range(T - 1, -1, -1):
            _rnn.lstm_step_backward(dh, dc, gates[t], cs[t], c0 if t == 0 else cs[t - 1], dh_extra=dhs[t],
                                    dgates_out=dgates[t], dc_out=dc_buf)
            dh = self._gemm(dgates[t], w_hh, out=dh_buf)                  # (B, 4H) @ (4H, H)
            dc = dc_buf
        if T == 0:
            return dgates, self.copy(dh_n), self.copy(dc_n), self.full(w_hh.shape, 0, dt)
        return dgates, dh, dc, self._dw_hh(dgates, h0, hs)

    def gru_forward(self, gx, h0, w_hh, b_hh):
        """(hs, gates r, z, n, hn = h W_hn^T + b_hn), as NumpyConvPrimitives.gru_forward."""
        T, B, H3 = gx.shape
        H = H3 // 3
        h0, w_hh, b_hh = (self._as(a, gx.dtype) for a in (h0, w_hh, b_hh))
        hs, gates, hn = gx.new((T, B, H)), gx.new((T, B, H3)), gx.new((T, B, H))
        wt = _t(w_hh)                                                   # (H, 3H) view
        h = h0
        for t in range(T):
            a = self._gemm(h, wt, bias=b_hh, out=gates[t])                # h W_hh^T + b_hh, gated in place
            _rnn.gru_step(gx[t], a, h, gates_out=a, hn_out=hn[t], h_out=hs[t])
            h = hs[t]
        return hs, gates, hn

    def gru_backward(self, dhs, dh_n, gates, hn, hs, h0, w_hh):
        """(dgx (T, B, 3H), dh0, dw_hh (3H, H), db_hh (3H,)) of :meth:`gru_forward`."""
        T, B, H3 = gates.shape
        H, dt = H3 // 3, gates.dtype
        dhs, dh_n, h0, w_hh = (self._as(a, dt) for a in (dhs, dh_n, h0, w_hh))
        dgx, da = gates.new((T, B, H3)), gates.new((T, B, H3))
        dh, dh_buf = dh_n, gates.new((B, H))
        for t in range(T - 1, -1, -1):
            _rnn.gru_step_backward(dh, gates[t], hn[t], h0 if t == 0 else hs[t - 1], dh_extra=dhs[t],
                                   dgx_out=dgx[t], da_out=da[t], dhz_out=dh_buf)
            dh = self._gemm(da[t], w_hh, residual=dh_buf, out=dh_buf)      # dh z + da @ W_hh
        if T == 0:
            return dgx, self.copy(dh_n), self.full(w_hh.shape, 0, dt), self.full((H3,), 0, dt)
        db = self.reduce("sum", da, (0, 1), False)
        return dgx, dh, self._dw_hh(da, h0, hs), db

    def rnn_forward(self, gx, h0, w_hh, nonlinearity):
        """hs (T, B, H) of h' = act(gx + h W_hh^T), act tanh | relu."""
        T, B, H = gx.shape
        h0, w_hh = self._as(h0, gx.dtype), self._as(w_hh, gx.dtype)
        hs, wt, h = gx.new((T, B, H)), _t(w_hh), h0
        for t in range(T):
            pre = self._gemm(h, wt, residual=gx[t], out=hs[t])
            h = _rnn.rnn_step(pre, nonlinearity, out=pre)
        return hs

    def rnn_backward(self, dhs, dh_n, hs, h0, w_hh, nonlinearity):
        """(dgx (T, B, H), dh0, dw_hh) of :meth:`rnn_forward`."""
        T, B, H = hs.shape
        dhs, dh_n, h0, w_hh = (self._as(a, hs.dtype) for a in (dhs, dh_n, h0, w_hh))
        da, dh, dh_buf = hs.new((T, B, H)), dh_n, hs.new((B, H))
        for t in range(T - 1, -1, -1):
            _rnn.rnn_step_backward(dh, hs[t], nonlinearity, dh_extra=dhs[t], out=da[t])
            dh = self._gemm(da[t], w_hh, out=dh_buf)
        if T == 0:
            return da, self.copy(dh_n), self.full(w_hh.shape, 0, hs.dtype)
        return da, dh, self._dw_hh(da, h0, hs)


def _t(m):
    return m.view_as((m.shape[1], m.shape[0]), (m.strides[1], m.strides[0]))


