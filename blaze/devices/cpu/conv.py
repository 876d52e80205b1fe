"""CPU primitives for convolution, pooling and resampling (NumPy).

Signatures follow the Triton launchers in ``blaze/kernels/`` (conv.py, pooling.py): the
same argument names and order, backend arrays in and out. Geometry
arguments (stride, padding, dilation, kernel_size) arrive as (h, w) pairs of ints.

Convolution is im2col + GEMM: a strided *view* of the padded input holds every window
(no copy), one reshape copies it into the (K, P*Q) column matrix per sample, and one
batched matmul does the arithmetic in BLAS. float16/bfloat16 inputs compute in float32.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .parallel import chunks, matmul, num_workers, parallel_for


def _half(a) -> bool:
    return a.dtype.itemsize == 2 and a.dtype.kind not in "iub"


def _f32(*arrays):
    """Arrays in float32 when the first is half precision (NumPy's half GEMM is ~50x slower)."""
    if _half(arrays[0]):
        return tuple(None if a is None else a.astype(np.float32) for a in arrays)
    return arrays


def _windows(xp, KH, KW, P, Q, stride, dilation):
    """(N, C, P, Q, KH, KW) read-only view of every window of the padded input ``xp``."""
    n, c, h, w = xp.strides
    (sh, sw), (dh, dw) = stride, dilation
    return as_strided(xp, (xp.shape[0], xp.shape[1], P, Q, KH, KW),
                      (n, c, h * sh, w * sw, h * dh, w * dw), writeable=False)


def _conv_out(H, W, KH, KW, stride, padding, dilation):
    P = (H + 2 * padding[0] - dilation[0] * (KH - 1) - 1) // stride[0] + 1
    Q = (W + 2 * padding[1] - dilation[1] * (KW - 1) - 1) // stride[1] + 1
    return P, Q


def _pad_hw(x, top, bottom, left, right, value=0.0):
    """x (N, C, H, W) padded with ``value``: one filled array and one copy (np.pad took 1.5x as
    long on (1, 64, 56, 56): 110-131 us against 71-78 us)."""
    if top == bottom == left == right == 0:
        return x
    N, C, H, W = x.shape
    fill = x.dtype.type(value)                                    # -inf into an int raises, as np.pad did
    xp = np.full((N, C, H + top + bottom, W + left + right), fill, x.dtype)
    xp[:, :, top:top + H, left:left + W] = x
    return xp


def _cols(x, KH, KW, stride, padding, dilation, groups):
    """im2col: (G, Cg*KH*KW, N*P*Q) column matrices (one copy of the windows) and (P, Q).

    The batch goes into the GEMM's N dimension: one large GEMM per group is ~5x faster
    than N per-sample GEMMs here (64 x (64x288 @ 288x196): 21 ms vs 100+ ms on 2 cores).
    """
    N, C, H, W = x.shape
    P, Q = _conv_out(H, W, KH, KW, stride, padding, dilation)
    xp = _pad_hw(x, padding[0], padding[0], padding[1], padding[1])
    win = _windows(xp, KH, KW, P, Q, stride, dilation)                     # (N, C, P, Q, KH, KW)
    win = win.reshape(N, groups, C // groups, P, Q, KH, KW).transpose(1, 2, 5, 6, 0, 3, 4)
    return np.ascontiguousarray(win).reshape(groups, (C // groups) * KH * KW, N * P * Q), (P, Q)


# im2col budget per GEMM (elements): 2M float32 = 8 MiB of columns, and at least 1024 GEMM
# columns (n*P*Q) per chunk so no GEMM gets thin. B8 64ch 56^2 forward + backward (1 thread,
# vs torch): one sample per chunk 1.76 -> 1.48 and peak 81 -> 29 MiB (58 MiB of columns before).
# 128ch 28^2 in 2-sample chunks read 1.09-1.40 over runs, as whole-batch GEMMs did: noise.
_COLS_ELEMS = 1 << 21
_MIN_GEMM_N = 1024


def _batch_chunks(N, per_sample, PQ):
    """(n0, n1) slices of the batch whose im2col matrices fit :data:`_COLS_ELEMS`, near-equal and
    a multiple of the workers in number (when the batch allows), since the chunks run in parallel."""
    step = max(1, _COLS_ELEMS // max(1, per_sample), -(-_MIN_GEMM_N // max(1, PQ)))
    workers = num_workers()
    n = -(-N // step)
    return chunks(N, -(-n // workers) * workers)


# Stride-1 convs use the padded-width grid when it costs at most this many extra GEMM columns:
# 56^2 computes 58/56 = 1.04x the outputs, 28^2 1.07x, 14^2 1.14x (where the saved copies no longer pay).
_FLAT_WASTE = 1.08
# ... and dw only with at least this many input and output channels: its per-sample (O, L) x (L, C)
# GEMMs are thin below (1 worker, ms before -> after: B8 64->64ch 56^2 33.4 -> 28.0, B32 32->32ch 32^2
# 13.5 -> 12.0, B64 16->32ch 28^2 11.5 -> 12.6, B64 1->16ch 28^2 1.1 -> 2.6). The forward was never
# slower on these shapes (B64 1->16ch 28^2 1.00 -> 0.88, 32->32ch 12.7 -> 11.3, 64ch 56^2 30.4 -> 30.3).
_FLAT_DW_CHANNELS = 32


class _Flat:
    """Geometry of a stride-1 conv computed on the padded-width grid (groups = 1).

    In the zero-padded input flattened per channel, the window tap (kh, kw) of output (p, q) is
    element (p * Wp + q) + kh * dh * Wp + kw * dw. So if the outputs are computed for every column
    q < Wp of the padded width (the last Wp - Q of each row are discarded), each tap's operand is a
    CONTIGUOUS run of L = P * Wp elements per channel: im2col becomes KH*KW block copies (runs of
    L floats, not of Q), and dw needs no im2col at all (a strided view is a GEMM operand).
    B8 64ch 56^2, 1 thread: the columns 0.57 -> 0.39 ms a sample, dw 3.71 -> 3.26 ms.
    """

    def __init__(self, x_shape, KH, KW, padding, dilation):
        _, _, H, W = x_shape
        (ph, pw), (dh, dw) = padding, dilation
        self.padding, self.Wp = padding, W + 2 * pw
        self.P, self.Q = _conv_out(H, W, KH, KW, (1, 1), padding, dilation)
        self.L = self.P * self.Wp
        self.offsets = [kh * dh * self.Wp + kw * dw for kh in range(KH) for kw in range(KW)]

    @staticmethod
    def usable(x_shape, w_shape, stride, padding, dilation, groups) -> bool:
        if groups != 1 or tuple(stride) != (1, 1):
            return False
        P, Q = _conv_out(*x_shape[2:], *w_shape[2:], (1, 1), padding, dilation)
        return P > 0 and Q > 0 and x_shape[3] + 2 * padding[1] <= _FLAT_WASTE * Q

    def padded(self, x):
        """(n, C, rows * Wp) zero-padded input, flattened per channel; one extra bottom row, since
        the last taps of the last (discarded) columns read past the last padded row."""
        (ph, pw), n, C = self.padding, *x.shape[:2]
        return _pad_hw(x, ph, ph + 1, pw, pw).reshape(n, C, -1)

    def cols(self, x):
        """(KH*KW*C, n*L) columns, rows ordered (kh, kw, c): one block copy per tap."""
        xf = self.padded(x)
        n, C = xf.shape[:2]
        cols = np.empty((len(self.offsets), C, n, self.L), x.dtype)
        for t, o in enumerate(self.offsets):
            cols[t] = xf[:, :, o:o + self.L].transpose(1, 0, 2)
        return cols.reshape(-1, n * self.L)

    def crop(self, y):
        """(O, n * L) GEMM output -> (n, O, P, Q): drop the wrapped columns."""
        O = y.shape[0]
        return y.reshape(O, -1, self.P, self.Wp)[..., :self.Q].transpose(1, 0, 2, 3)

    def weight_grad(self, dy, x):
        """(KH*KW, O, C) dw of a batch chunk: per sample and tap one GEMM of dy against a view of x."""
        n, O = dy.shape[:2]
        xf = self.padded(x)
        dyp = np.zeros((n, O, self.P, self.Wp), dy.dtype)       # zeros in the wrapped columns
        dyp[..., :self.Q] = dy
        dyf = dyp.reshape(n, O, self.L)
        dw = np.zeros((len(self.offsets), O, xf.shape[1]), dy.dtype)
        tmp = np.empty(dw.shape[1:], dy.dtype)
        for s in range(n):
            for t, o in enumerate(self.offsets):
                np.matmul(dyf[s], xf[s, :, o:o + self.L].T, out=tmp)
                dw[t] += tmp
        return dw


def _col2im(dcols, input_shape, KH, KW, P, Q, stride, padding, dilation):
    """Adjoint of :func:`_cols`: scatter-add (G, Cg*KH*KW, N*P*Q) columns into (N, C, H, W)."""
    N, C, H, W = input_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    d = dcols.reshape(C, KH, KW, N, P, Q)                                   # channel = g*Cg + c
    # KH*KW strided adds; rows/cols past the last window of the padded input stay zero
    dxp = np.zeros((C, N, max(H + 2 * ph, (P - 1) * sh + (KH - 1) * dh + 1),
                    max(W + 2 * pw, (Q - 1) * sw + (KW - 1) * dw + 1)), dcols.dtype)
    for i in range(KH):
        for j in range(KW):
            dxp[:, :, i * dh:i * dh + (P - 1) * sh + 1:sh, j * dw:j * dw + (Q - 1) * sw + 1:sw] += d[:, i, j]
    return dxp[:, :, ph:ph + H, pw:pw + W].transpose(1, 0, 2, 3)           # (N, C, H, W)


def _depthwise(x, w, stride, padding, dilation):
    """Depthwise conv (groups = C = O): KH*KW scaled adds of window views; im2col would copy
    KH*KW times the input to feed C GEMMs with K = KH*KW, each a matrix-vector product."""
    N, C, H, W = x.shape
    KH, KW = w.shape[2:]
    P, Q = _conv_out(H, W, KH, KW, stride, padding, dilation)
    win = _windows(_pad_hw(x, padding[0], padding[0], padding[1], padding[1]), KH, KW, P, Q, stride, dilation)
    y = np.zeros((N, C, P, Q), x.dtype)
    tmp = np.empty_like(y)
    for i in range(KH):
        for j in range(KW):
            np.multiply(win[..., i, j], w[:, 0, i, j].reshape(1, C, 1, 1), out=tmp)
            y += tmp
    return y


def _dy_rows(grad_out, groups):
    """(N, O, P, Q) -> (G, Og, N*P*Q), the GEMM layout of :func:`_cols`."""
    N, O, P, Q = grad_out.shape
    return np.ascontiguousarray(grad_out.reshape(N, groups, O // groups, P * Q).transpose(1, 2, 0, 3)).reshape(
        groups, O // groups, N * P * Q)


def _pool_geometry(H, W, kernel_size, stride, padding, dilation, ceil_mode):
    """PyTorch's pooling output size (the last window must start inside input or left pad)."""
    out = []
    for size, k, s, p, d in zip((H, W), kernel_size, stride, padding, dilation):
        o = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= size + p:
            o -= 1
        out.append(o)
    return tuple(out)


def _pool_pad(x, OH, OW, kernel_size, stride, padding, dilation, value):
    """Pad so every (ceil_mode) window lies inside the array; returns the padded input."""
    H, W = x.shape[2:]
    need_h = (OH - 1) * stride[0] + (kernel_size[0] - 1) * dilation[0] + 1
    need_w = (OW - 1) * stride[1] + (kernel_size[1] - 1) * dilation[1] + 1
    return _pad_hw(x, padding[0], max(need_h - H - padding[0], 0), padding[1], max(need_w - W - padding[1], 0),
                   value)


def _avg_divisor(H, W, OH, OW, kernel_size, stride, padding, count_include_pad, divisor_override):
    """(OH, OW) divisors by PyTorch's rule: windows clipped to input+pad, or to input only."""
    if divisor_override:
        return np.full((OH, OW), float(divisor_override))
    counts = []
    for size, o, k, s, p in zip((H, W), (OH, OW), kernel_size, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, size + p)
        if count_include_pad:
            counts.append(end - start)
        else:
            counts.append(np.minimum(end, size) - np.maximum(start, 0))
    return np.outer(counts[0], counts[1]).astype(np.float64)


def _adaptive_matrix(size, osize, dtype):
    """(osize, size) averaging matrix: row i spans floor(i*size/osize) .. ceil((i+1)*size/osize)."""
    m = np.zeros((osize, size), dtype)
    for i in range(osize):
        lo, hi = (i * size) // osize, -(-(i + 1) * size // osize)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def _nearest_matrix(isize, osize, scale, align_corners, dtype, exact=False):
    """(osize, isize) one-hot rows: src = floor(dst * s) (nearest-exact: floor((dst + 0.5) * s))."""
    s = 1.0 / scale if scale else isize / osize
    dst = np.arange(osize, dtype=np.float64)
    src = np.floor((dst + 0.5) * s if exact else dst * s).astype(np.int64)
    m = np.zeros((osize, isize), dtype)
    m[np.arange(osize), np.minimum(src, isize - 1)] = 1.0
    return m


def _linear_matrix(isize, osize, scale, align_corners, dtype, exact=False):
    """(osize, isize) two-tap rows after PyTorch's area_pixel_compute_source_index."""
    dst = np.arange(osize, dtype=np.float64)
    if align_corners:
        src = dst * ((isize - 1) / (osize - 1) if osize > 1 else 0.0)
    else:  # half-pixel centres; negative sources clamp to 0
        src = np.maximum((dst + 0.5) * (1.0 / scale if scale else isize / osize) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), isize - 1)
    i1 = np.minimum(i0 + 1, isize - 1)
    lam = src - i0
    m = np.zeros((osize, isize), np.float64)
    np.add.at(m, (np.arange(osize), i0), 1.0 - lam)
    np.add.at(m, (np.arange(osize), i1), lam)
    return m.astype(dtype)


# interpolate mode -> builder of the separable (out, in) resampling matrix of one dim
RESAMPLE = {
    "nearest": _nearest_matrix,
    "nearest-exact": lambda i, o, s, a, dt: _nearest_matrix(i, o, s, a, dt, exact=True),
    "bilinear": _linear_matrix,
}


def _max_scan_nan(views):
    """(max, argmax offset) by PyTorch's scan: update when v > max or v is NaN (the last NaN wins)."""
    out = views[0].copy()
    arg = np.zeros(out.shape, np.int64)
    for k, v in enumerate(views[1:], 1):
        take = v > out
        take |= np.isnan(v)
        np.copyto(out, v, where=take)
        np.copyto(arg, k, where=take)
    return out, arg


class NumpyConvPrimitives:
    """Conv / pooling / resampling primitives of the NumPy backend."""

    # -- convolution -------------------------------------------------------------------------
    def conv2d(self, x, w, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        """y (N, O, P, Q) = cross-correlation of x (N, C, H, W) with w (O, C/groups, KH, KW) + bias."""
        dt = x.dtype
        x, w, bias = _f32(x, w, bias)
        N, C, H, W = x.shape
        O, Cg, KH, KW = w.shape
        if (KH, KW) == (1, 1) and tuple(stride) == (1, 1) and tuple(padding) == (0, 0):
            # 1x1: x is already the column matrix; one batched GEMM writes NCHW directly
            y = matmul(w.reshape(groups, O // groups, Cg), x.reshape(N, groups, Cg, H * W)).reshape(N, O, H, W)
        elif groups == C == O and groups > 1:
            y = _depthwise(x, w, stride, padding, dilation)
        elif _Flat.usable(x.shape, w.shape, stride, padding, dilation, groups):
            flat = _Flat(x.shape, KH, KW, padding, dilation)
            y = np.empty((N, O, flat.P, flat.Q), x.dtype)
            wr = np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(O, KH * KW * C)   # (o, (kh, kw, c))
            parts = _batch_chunks(N, C * KH * KW * flat.L, flat.L)

            def piece(j):                                         # columns + GEMM of one batch chunk
                n0, n1 = parts[j]
                y[n0:n1] = flat.crop(matmul(wr, flat.cols(x[n0:n1])))
            parallel_for(piece, len(parts))
        else:
            P, Q = _conv_out(H, W, KH, KW, stride, padding, dilation)
            y = np.empty((N, O, P, Q), x.dtype)
            wg = w.reshape(groups, O // groups, Cg * KH * KW)
            parts = _batch_chunks(N, C * KH * KW * P * Q, P * Q)

            def piece(j):                                         # im2col + GEMM of one batch chunk
                n0, n1 = parts[j]
                cols, _ = _cols(x[n0:n1], KH, KW, stride, padding, dilation, groups)   # (G, K, n*P*Q)
                y[n0:n1] = matmul(wg, cols).reshape(O, n1 - n0, P, Q).transpose(1, 0, 2, 3)
            parallel_for(piece, len(parts))
        if bias is not None:
            y += bias.reshape(1, O, 1, 1)
        return y.astype(dt, copy=False)

    def conv2d_backward_input(self, grad_out, w, input_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                              groups=1):
        """dx (input_shape) of conv2d.

        Stride 1 (padding <= the kernel's reach, O <= C): dx is the forward conv of dy with the flipped,
        in/out-swapped kernel, padded by reach - padding: one im2col copy and one GEMM, where
        col2im's KH*KW strided scatter-adds over (N, C, H, W) cost 23 ms of 56 (B8 64ch 56^2, 1 thread).
        Otherwise: columns w^T @ dy, scattered back by col2im.
        """
        dt = grad_out.dtype
        grad_out, w = _f32(grad_out, w)
        P, Q = grad_out.shape[2:]
        O, Cg, KH, KW = w.shape
        reach = ((KH - 1) * dilation[0], (KW - 1) * dilation[1])
        # the flipped conv copies O*KH*KW rows of dy: worth it when O <= C (64 -> 64 ch: 56 -> 40 ms);
        # 16 -> 32 ch at 14^2 (B64) it is 10% slower than col2im and 3x slower for C = 1
        if tuple(stride) == (1, 1) and padding[0] <= reach[0] and padding[1] <= reach[1] and O // groups <= Cg:
            wf = w[:, :, ::-1, ::-1].reshape(groups, O // groups, Cg, KH, KW).swapaxes(1, 2)  # (G, Cg, Og, KH, KW)
            wf = np.ascontiguousarray(wf).reshape(groups * Cg, O // groups, KH, KW)
            pad = (reach[0] - padding[0], reach[1] - padding[1])
            return self.conv2d(grad_out, wf, None, (1, 1), pad, dilation, groups).astype(dt, copy=False)
        wt = np.swapaxes(w.reshape(groups, O // groups, Cg * KH * KW), 1, 2)   # (G, K, Og)
        dcols = matmul(wt, _dy_rows(grad_out, groups))                       # (G, K, N*P*Q)
        dx = _col2im(dcols, tuple(input_shape), KH, KW, P, Q, stride, padding, dilation)
        return np.ascontiguousarray(dx, dtype=dt)

    def conv2d_backward_weight(self, grad_out, x, weight_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                               groups=1):
        """dw (weight_shape) of conv2d: dy @ cols^T, one GEMM per group over the whole batch."""
        dt = x.dtype
        grad_out, x = _f32(grad_out, x)
        O, Cg, KH, KW = weight_shape
        flat = None
        if min(O, Cg) >= _FLAT_DW_CHANNELS and _Flat.usable(x.shape, weight_shape, stride, padding, dilation,
                                                            groups):
            flat = _Flat(x.shape, KH, KW, padding, dilation)
            PQ = flat.L                                           # GEMM columns per sample
        else:
            PQ = grad_out.shape[2] * grad_out.shape[3]
        parts = _batch_chunks(x.shape[0], x.shape[1] * KH * KW * PQ, PQ)
        dws = [None] * len(parts)

        def piece(j):                                             # this chunk's share of dw, summed below
            n0, n1 = parts[j]
            if flat is not None:
                dws[j] = flat.weight_grad(grad_out[n0:n1], x[n0:n1])                       # (KH*KW, O, C)
                return
            cols, _ = _cols(x[n0:n1], KH, KW, stride, padding, dilation, groups)   # (G, K, n*P*Q)
            dws[j] = matmul(_dy_rows(grad_out[n0:n1], groups), np.swapaxes(cols, 1, 2))     # (G, Og, K)
        parallel_for(piece, len(parts))
        dw = dws[0]
        for part in dws[1:]:
            dw += part
        if flat is not None:
            dw = dw.reshape(KH, KW, O, Cg).transpose(2, 3, 0, 1)
        return dw.reshape(weight_shape).astype(dt, copy=False)

    def conv2d_backward_bias(self, grad_out):
        return grad_out.sum(axis=(0, 2, 3), dtype=np.float32 if _half(grad_out) else None).astype(grad_out.dtype)

    # -- pooling -----------------------------------------------------------------------------
    def max_pool2d(self, x, kernel_size, stride, padding=(0, 0), dilation=(1, 1), ceil_mode=False):
        """(out, indices): indices are int64 flat positions h*W + w inside each (n, c) plane."""
        N, C, H, W = x.shape
        OH, OW = _pool_geometry(H, W, kernel_size, stride, padding, dilation, ceil_mode)
        xp = _pool_pad(x, OH, OW, kernel_size, stride, padding, dilation, -np.inf)
        KH, KW = kernel_size
        win = _windows(xp, KH, KW, OH, OW, stride, dilation)       # (N, C, OH, OW, KH, KW) view
        views = [win[..., k // KW, k % KW] for k in range(KH * KW)]  # window offsets, row-major
        # max over strided views, then the first offset equal to it, counted with comparisons:
        # no masked copies (64x16x28x28, 2x2: 0.7 ms vs 6.5 ms for the copyto(where=) scan)
        out = views[0].copy()
        for v in views[1:]:
            np.maximum(out, v, out=out)
        if np.isnan(out).any():  # np.maximum keeps the first NaN; PyTorch keeps the last one
            out, arg = _max_scan_nan(views)
        else:
            arg = np.zeros(out.shape, np.uint8 if KH * KW < 256 else np.int64)
            before = views[0] != out                               # first max not reached yet
            for v in views[1:]:
                arg += before
                before &= v != out
        offs = (np.arange(KH)[:, None] * (dilation[0] * W) + np.arange(KW)[None, :] * dilation[1]).ravel()
        base = ((np.arange(OH) * stride[0] - padding[0])[:, None] * W
                + (np.arange(OW) * stride[1] - padding[1])[None, :])  # (OH, OW) flat window origin
        idx = np.take(offs, arg)
        idx += base
        return out, idx

    def max_pool2d_backward(self, dy, indices, input_shape, kernel_size=None, stride=None, padding=(0, 0),
                            dilation=(1, 1), ceil_mode=False):
        """dx: dy scatter-added at the saved indices (overlapping windows accumulate)."""
        N, C, H, W = input_shape
        if kernel_size is not None and all(s >= (k - 1) * d + 1 for s, k, d in zip(stride, kernel_size, dilation)):
            # windows do not overlap: every index appears at most once, a plain scatter suffices
            dx = np.zeros((N, C, H * W), dy.dtype)
            np.put_along_axis(dx, indices.reshape(N, C, -1), dy.reshape(N, C, -1), axis=2)
            return dx.reshape(input_shape)
        plane = (np.arange(N * C, dtype=np.int64) * (H * W)).reshape(N, C, 1, 1)
        dx = np.bincount((indices + plane).ravel(), weights=dy.ravel().astype(np.float64), minlength=N * C * H * W)
        return dx.reshape(input_shape).astype(dy.dtype)

    def avg_pool2d(self, x, kernel_size, stride, padding=(0, 0), ceil_mode=False, count_include_pad=True,
                   divisor_override=None):
        N, C, H, W = x.shape
        OH, OW = _pool_geometry(H, W, kernel_size, stride, padding, (1, 1), ceil_mode)
        ct = np.float32 if _half(x) else x.dtype
        xp = _pool_pad(x.astype(ct, copy=False), OH, OW, kernel_size, stride, padding, (1, 1), 0.0)
        s = _windows(xp, *kernel_size, OH, OW, stride, (1, 1)).sum(axis=(4, 5))
        div = _avg_divisor(H, W, OH, OW, kernel_size, stride, padding, count_include_pad, divisor_override)
        return (s / div.astype(ct)).astype(x.dtype, copy=False)

    def avg_pool2d_backward(self, dy, input_shape, kernel_size, stride, padding=(0, 0), ceil_mode=False,
                            count_include_pad=True, divisor_override=None):
        N, C, H, W = input_shape
        OH, OW = dy.shape[2:]
        (KH, KW), (sh, sw), (ph, pw) = kernel_size, stride, padding
        ct = np.float32 if _half(dy) else dy.dtype
        div = _avg_divisor(H, W, OH, OW, kernel_size, stride, padding, count_include_pad, divisor_override)
        g = dy.astype(ct, copy=False) / div.astype(ct)
        dxp = np.zeros((N, C, max(H + 2 * ph, (OH - 1) * sh + KH), max(W + 2 * pw, (OW - 1) * sw + KW)), ct)
        for i in range(KH):
            for j in range(KW):
                dxp[:, :, i:i + (OH - 1) * sh + 1:sh, j:j + (OW - 1) * sw + 1:sw] += g
        return np.ascontiguousarray(dxp[:, :, ph:ph + H, pw:pw + W], dtype=dy.dtype)

    def adaptive_avg_pool2d(self, x, output_size):
        ct = np.float32 if _half(x) else x.dtype
        mh = _adaptive_matrix(x.shape[2], output_size[0], ct)
        mw = _adaptive_matrix(x.shape[3], output_size[1], ct)
        return (mh @ x.astype(ct, copy=False) @ mw.T).astype(x.dtype, copy=False)   # (N, C, OH, OW)

    def adaptive_avg_pool2d_backward(self, dy, input_shape):
        ct = np.float32 if _half(dy) else dy.dtype
        mh = _adaptive_matrix(input_shape[2], dy.shape[2], ct)
        mw = _adaptive_matrix(input_shape[3], dy.shape[3], ct)
        return (mh.T @ dy.astype(ct, copy=False) @ mw).astype(dy.dtype, copy=False)  # (N, C, H, W)

    # -- resampling --------------------------------------------------------------------------
    def _resample_mats(self, in_hw, out_hw, mode, align_corners, scales, ct):
        scales = scales or (None, None)
        build = RESAMPLE[mode]
        return (build(in_hw[0], out_hw[0], scales[0], bool(align_corners), ct),
                build(in_hw[1], out_hw[1], scales[1], bool(align_corners), ct))

    def interpolate2d(self, x, size, mode, align_corners=False, scales=None):
        """Resize x (N, C, H, W) to ``size`` (OH, OW); modes nearest / nearest-exact / bilinear.

        ``scales``: the user's scale_factor per dim (PyTorch uses 1/scale, not H/OH, then).
        Separable: y = Mh @ x @ Mw^T with (OH, H) and (OW, W) interpolation matrices.
        """
        ct = np.float32 if _half(x) else x.dtype
        mh, mw = self._resample_mats(x.shape[2:], size, mode, align_corners, scales, ct)
        return (mh @ x.astype(ct, copy=False) @ mw.T).astype(x.dtype, copy=False)

    def interpolate2d_backward(self, dy, input_shape, mode, align_corners=False, scales=None):
        ct = np.float32 if _half(dy) else dy.dtype
        mh, mw = self._resample_mats(input_shape[2:], dy.shape[2:], mode, align_corners, scales, ct)
        return (mh.T @ dy.astype(ct, copy=False) @ mw).astype(dy.dtype, copy=False)
