"""unfold (im2col) and its adjoint fold (col2im), as ``torch.nn.functional.unfold`` / ``fold``.

unfold gathers every kernel window (windows.gather_windows); fold scatter-adds the columns
back into the padded image, so overlapping windows sum, then crops the padding. Each is the
other's gradient, and both run unchanged on every device.
"""
from __future__ import annotations


import numpy as np

from ...ops.creation import tensor as _tensor
from ...ops.movement import pad as _pad
from .windows import gather_windows, ntuple, sliding_table

__all__ = ["unfold", "fold"]


def _geometry(sizes, kernel_size, dilation, padding, stride):
    k, d = ntuple(kernel_size, 2, "kernel_size"), ntuple(dilation, 2, "dilation")
    p, s = ntuple(padding, 2, "padding"), ntuple(stride, 2, "stride")
    if min(k) <= 0 or min(d) <= 0 or min(s) <= 0 or min(p) < 0:
        raise RuntimeError(f"kernel_size {k}, dilation {d} and stride {s} should be greater than zero and padding "
                           f"{p} non-negative")
    outs = tuple((L + 2 * pi - di * (ki - 1) - 1) // si + 1 for L, ki, di, pi, si in zip(sizes, k, d, p, s))
    if min(outs) <= 0:
        raise RuntimeError(f"Given input with spatial size {tuple(sizes)}, kernel_size={k}, dilation={d}, "
                           f"padding={p}, calculated shape of the array of sliding blocks as {outs}, but its "
                           "components must be at least one.")
    return k, d, p, s, outs


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of (N, C, H, W) as columns: (N, C*KH*KW, L), L = OH*OW (channel-major rows).

    Example::

        cols = F.unfold(x, 3, padding=1)   # (N, C, H, W) -> (N, 9C, H*W)
    """
    if input.ndim not in (3, 4):
        raise NotImplementedError(f"Input Error: Only 3D or 4D input Tensors are supported (got {input.ndim}D)")
    x = input.unsqueeze(0) if input.ndim == 3 else input
    k, d, p, s, outs = _geometry(tuple(x.shape[2:]), kernel_size, dilation, padding, stride)
    if any(p):
        x = _pad(x, (p[1], p[1], p[0], p[0]))
    w = gather_windows(x, [sliding_table(o, ki, si, di) for o, ki, si, di in zip(outs, k, s, d)])  # (N, C, OH, OW, K)
    N, C = x.shape[:2]
    cols = w.permute(0, 1, 4, 2, 3).reshape(N, C * k[0] * k[1], outs[0] * outs[1])
    return cols.squeeze(0) if input.ndim == 3 else cols


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns (N, C*KH*KW, L) back into an (N, C, H, W) image, as ``torch.nn.functional.fold``."""
    if input.ndim not in (2, 3):
        raise NotImplementedError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                                  f"(got {input.ndim}D)")
    cols = input.unsqueeze(0) if input.ndim == 2 else input
    size = ntuple(output_size, 2, "output_size")
    k, d, p, s, outs = _geometry(size, kernel_size, dilation, padding, stride)
    K = k[0] * k[1]
    N, CK, L = cols.shape
    if CK % K:
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product of kernel_size, but "
                           f"got input.size(1)={CK} and kernel_size={k}")
    if L != outs[0] * outs[1]:
        raise RuntimeError(f"Given output_size={size}, kernel_size={k}, dilation={d}, padding={p}, stride={s}, "
                           f"expected size of input's dimension 2 to match the calculated number of sliding blocks "
                           f"{outs[0]} * {outs[1]} = {outs[0] * outs[1]}, but got input.size(2)={L}.")
    Hp, Wp = size[0] + 2 * p[0], size[1] + 2 * p[1]
    th, tw = sliding_table(outs[0], k[0], s[0], d[0]), sliding_table(outs[1], k[1], s[1], d[1])   # (O, K) each
    # flat padded position of column row (kh, kw) at block (oh, ow): (K, L) in unfold's row order
    pos = th.T[:, None, :, None] * Wp + tw.T[None, :, None, :]                                     # (KH, KW, OH, OW)
    C = CK // K
    idx = _tensor(np.ascontiguousarray(pos.reshape(1, 1, K * L)), device=cols.device).expand(N, C, K * L)
    img = cols.new_zeros((N, C, Hp * Wp)).scatter_add(2, idx, cols.reshape(N, C, K * L))
    img = img.reshape(N, C, Hp, Wp)[:, :, p[0]:p[0] + size[0], p[1]:p[1] + size[1]]
    return img.squeeze(0) if input.ndim == 2 else img


