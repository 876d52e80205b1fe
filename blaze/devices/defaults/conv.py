"""Defaults of the ``conv`` group over the core tier: convolution as im2col + GEMM, pooling, resampling.

Windows are a strided view of the padded input (``as_strided``); one ``contiguous`` copies them
into the (K, N*P*Q) column matrix and one batched ``matmul`` per call does the arithmetic. The
adjoint (col2im, the pooling backwards) adds KH*KW strided slices, each a getitem + add + setitem.
Output geometry, divisors and resampling matrices depend on shapes alone: they are the cpu
device's host helpers, uploaded.
"""
from __future__ import annotations

import numpy as np

from ..cpu.conv import RESAMPLE, _adaptive_matrix, _avg_divisor, _conv_out, _pool_geometry
from ._util import acc, back, dtype_of, swap_last, upload

_ALL = slice(None)


def _padded(be, x, top, bottom, left, right, value=0.0):
    if top == bottom == left == right == 0:
        return be.contiguous(x)
    return be.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), value)


def _windows(be, xp, KH, KW, P, Q, stride, dilation):
    """(N, C, P, Q, KH, KW) view of every window of the contiguous padded input ``xp``."""
    n, c, h, w = be.strides(xp)
    (sh, sw), (dh, dw) = stride, dilation
    return be.as_strided(xp, (xp.shape[0], xp.shape[1], P, Q, KH, KW), (n, c, h * sh, w * sw, h * dh, w * dw), 0)


def _cols(be, x, KH, KW, stride, padding, dilation, groups):
    """im2col: (G, Cg*KH*KW, N*P*Q) column matrices and (P, Q)."""
    N, C, H, W = x.shape
    P, Q = _conv_out(H, W, KH, KW, stride, padding, dilation)
    xp = _padded(be, x, padding[0], padding[0], padding[1], padding[1])
    win = be.reshape(be.contiguous(_windows(be, xp, KH, KW, P, Q, stride, dilation)),
                     (N, groups, C // groups, P, Q, KH, KW))
    win = be.contiguous(be.permute(win, (1, 2, 5, 6, 0, 3, 4)))             # (G, Cg, KH, KW, N, P, Q)
    return be.reshape(win, (groups, (C // groups) * KH * KW, N * P * Q)), (P, Q)


def _dy_rows(be, dy, groups):
    """(N, O, P, Q) -> (G, Og, N*P*Q), the GEMM layout of :func:`_cols`."""
    N, O, P, Q = dy.shape
    rows = be.permute(be.reshape(be.contiguous(dy), (N, groups, O // groups, P * Q)), (1, 2, 0, 3))
    return be.reshape(be.contiguous(rows), (groups, O // groups, N * P * Q))


def _add_windows(be, dxp, piece, KH, KW, P, Q, stride, dilation):
    """dxp[..., window offset (i, j) strided by stride] += piece(i, j) for every kernel offset."""
    (sh, sw), (dh, dw) = stride, dilation
    for i in range(KH):
        for j in range(KW):
            key = (_ALL, _ALL, slice(i * dh, i * dh + (P - 1) * sh + 1, sh), slice(j * dw, j * dw + (Q - 1) * sw + 1, sw))
            be.setitem(dxp, key, be.binary("add", be.getitem(dxp, key), piece(i, j)))


def _crop(be, dxp, H, W, ph, pw):
    return be.getitem(dxp, (_ALL, _ALL, slice(ph, ph + H), slice(pw, pw + W)))


def _pool_pad(be, x, OH, OW, kernel_size, stride, padding, dilation, value):
    """Pad so every (ceil_mode) window lies inside the array."""
    H, W = x.shape[2:]
    need_h = (OH - 1) * stride[0] + (kernel_size[0] - 1) * dilation[0] + 1
    need_w = (OW - 1) * stride[1] + (kernel_size[1] - 1) * dilation[1] + 1
    return _padded(be, x, padding[0], max(need_h - H - padding[0], 0), padding[1], max(need_w - W - padding[1], 0),
                   value)


class ConvDefaults:
    # -- convolution -----------------------------------------------------------------------------
    def conv2d(self, x, w, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        """y (N, O, P, Q) = cross-correlation of x (N, C, H, W) with w (O, C/groups, KH, KW) + bias."""
        a, wa = acc(self, x), acc(self, w)
        N = x.shape[0]
        O, Cg, KH, KW = w.shape
        cols, (P, Q) = _cols(self, a, KH, KW, stride, padding, dilation, groups)          # (G, K, N*P*Q)
        y = self.matmul(self.reshape(self.contiguous(wa), (groups, O // groups, Cg * KH * KW)), cols)
        y = self.contiguous(self.permute(self.reshape(y, (O, N, P, Q)), (1, 0, 2, 3)))  # (N, O, P, Q)
        if bias is not None:
            y = self.binary("add", y, self.reshape(acc(self, bias), (1, O, 1, 1)))
        return back(self, y, x)

    def conv2d_backward_input(self, grad_out, w, input_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                              groups=1):
        """dx (input_shape): columns w^T @ dy, scattered back by col2im."""
        g, wa = acc(self, grad_out), acc(self, w)
        P, Q = grad_out.shape[2:]
        O, Cg, KH, KW = w.shape
        N, C, H, W = input_shape
        (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
        wt = swap_last(self, self.reshape(self.contiguous(wa), (groups, O // groups, Cg * KH * KW)))   # (G, K, Og)
        d = self.reshape(self.matmul(wt, _dy_rows(self, g, groups)), (C, KH, KW, N, P, Q))
        dxp = self.full((C, N, max(H + 2 * ph, (P - 1) * sh + (KH - 1) * dh + 1),
                         max(W + 2 * pw, (Q - 1) * sw + (KW - 1) * dw + 1)), 0.0, dtype_of(d))
        _add_windows(self, dxp, lambda i, j: self.getitem(d, (_ALL, i, j)), KH, KW, P, Q, stride, dilation)
        dx = self.contiguous(self.permute(_crop(self, dxp, H, W, ph, pw), (1, 0, 2, 3)))        # (N, C, H, W)
        return back(self, dx, grad_out)

    def conv2d_backward_weight(self, grad_out, x, weight_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                               groups=1):
        """dw (weight_shape): dy @ cols^T, one GEMM per group over the whole batch."""
        O, Cg, KH, KW = weight_shape
        cols, _ = _cols(self, acc(self, x), KH, KW, stride, padding, dilation, groups)
        dw = self.matmul(_dy_rows(self, acc(self, grad_out), groups), swap_last(self, cols))       # (G, Og, K)
        return back(self, self.reshape(dw, tuple(weight_shape)), x)

    def conv2d_backward_bias(self, grad_out):
        return back(self, self.reduce("sum", acc(self, grad_out), (0, 2, 3), False), grad_out)

    # -- pooling ---------------------------------------------------------------------------------
    def max_pool2d(self, x, kernel_size, stride, padding=(0, 0), dilation=(1, 1), ceil_mode=False):
        """(out, indices): indices are int64 flat positions h*W + w inside each (n, c) plane."""
        N, C, H, W = x.shape
        OH, OW = _pool_geometry(H, W, kernel_size, stride, padding, dilation, ceil_mode)
        KH, KW = kernel_size
        low = -np.inf if x.dtype.kind in "fV" else np.iinfo(x.dtype).min
        xp = _pool_pad(self, x, OH, OW, kernel_size, stride, padding, dilation, low)
        win = self.reshape(self.contiguous(_windows(self, xp, KH, KW, OH, OW, stride, dilation)),
                           (N, C, OH, OW, KH * KW))
        out = self.reduce("amax", win, (4,), False)
        arg = self.argreduce("argmax", win, 4, False)                          # first max, offset in the window
        offs = (np.arange(KH)[:, None] * (dilation[0] * W) + np.arange(KW)[None, :] * dilation[1]).ravel()
        base = ((np.arange(OH) * stride[0] - padding[0])[:, None] * W
                + (np.arange(OW) * stride[1] - padding[1])[None, :])         # (OH, OW) flat window origin
        idx = self.reshape(self.index_select(upload(self, offs.astype(np.int64)), 0, self.reshape(arg, (-1,))),
                           (N, C, OH, OW))
        return out, self.binary("add", idx, upload(self, base.astype(np.int64)))

    def max_pool2d_backward(self, dy, indices, input_shape, kernel_size=None, stride=None, padding=(0, 0),
                            dilation=(1, 1), ceil_mode=False):
        """dx: dy scatter-added at the saved indices (overlapping windows accumulate)."""
        N, C, H, W = input_shape
        g = acc(self, dy)
        plane = upload(self, (np.arange(N * C, dtype=np.int64) * (H * W)).reshape(N, C, 1, 1))
        flat = self.reshape(self.binary("add", indices, plane), (-1,))
        dx = self.full((N * C * H * W,), 0.0, dtype_of(g))
        self.index_put(dx, (flat,), self.reshape(self.contiguous(g), (-1,)), True)
        return back(self, self.reshape(dx, tuple(input_shape)), dy)

    def avg_pool2d(self, x, kernel_size, stride, padding=(0, 0), ceil_mode=False, count_include_pad=True,
                   divisor_override=None):
        N, C, H, W = x.shape
        OH, OW = _pool_geometry(H, W, kernel_size, stride, padding, (1, 1), ceil_mode)
        a = acc(self, x)
        xp = _pool_pad(self, a, OH, OW, kernel_size, stride, padding, (1, 1), 0.0)
        s = self.reduce("sum", self.contiguous(_windows(self, xp, *kernel_size, OH, OW, stride, (1, 1))), (4, 5), False)
        div = _avg_divisor(H, W, OH, OW, kernel_size, stride, padding, count_include_pad, divisor_override)
        return back(self, self.binary("div", s, upload(self, div.astype(a.dtype))), x)

    def avg_pool2d_backward(self, dy, input_shape, kernel_size, stride, padding=(0, 0), ceil_mode=False,
                            count_include_pad=True, divisor_override=None):
        N, C, H, W = input_shape
        OH, OW = dy.shape[2:]
        (KH, KW), (sh, sw), (ph, pw) = kernel_size, stride, padding
        g = acc(self, dy)
        div = _avg_divisor(H, W, OH, OW, kernel_size, stride, padding, count_include_pad, divisor_override)
        g = self.binary("div", g, upload(self, div.astype(g.dtype)))
        dxp = self.full((N, C, max(H + 2 * ph, (OH - 1) * sh + KH), max(W + 2 * pw, (OW - 1) * sw + KW)), 0.0,
                        dtype_of(g))
        _add_windows(self, dxp, lambda i, j: g, KH, KW, OH, OW, stride, (1, 1))
        return back(self, self.contiguous(_crop(self, dxp, H, W, ph, pw)), dy)

    def _separable(self, x, mh, mw):
        """mh @ x @ mw^T over the last two dims of x (N, C, H, W), with host-built matrices."""
        a = acc(self, x)
        mh, mw = upload(self, mh.astype(a.dtype)), upload(self, mw.astype(a.dtype))
        return back(self, self.matmul(self.matmul(mh, a), swap_last(self, mw)), x)

    def adaptive_avg_pool2d(self, x, output_size):
        return self._separable(x, _adaptive_matrix(x.shape[2], output_size[0], np.float64),
                               _adaptive_matrix(x.shape[3], output_size[1], np.float64))

    def adaptive_avg_pool2d_backward(self, dy, input_shape):
        mh = _adaptive_matrix(input_shape[2], dy.shape[2], np.float64)
        mw = _adaptive_matrix(input_shape[3], dy.shape[3], np.float64)
        return self._separable(dy, mh.T, mw.T)

    # -- resampling ------------------------------------------------------------------------------
    def _resample(self, in_hw, out_hw, mode, align_corners, scales):
        scales = scales or (None, None)
        build = RESAMPLE[mode]
        return (build(in_hw[0], out_hw[0], scales[0], bool(align_corners), np.float64),
                build(in_hw[1], out_hw[1], scales[1], bool(align_corners), np.float64))

    def interpolate2d(self, x, size, mode, align_corners=False, scales=None):
        """Resize x (N, C, H, W) to ``size`` (OH, OW): y = Mh @ x @ Mw^T."""
        return self._separable(x, *self._resample(x.shape[2:], size, mode, align_corners, scales))

    def interpolate2d_backward(self, dy, input_shape, mode, align_corners=False, scales=None):
        mh, mw = self._resample(input_shape[2:], dy.shape[2:], mode, align_corners, scales)
        return self._separable(dy, mh.T, mw.T)
