"""conv3d and conv_transpose3d as sums of 2-D convolutions over the kernel's depth taps.

conv3d: output depth od reads input depths od*s + kd*dil - pad, so for each tap kd the
strided depth slice (N, C, OD, H, W) folds OD into the batch and goes through one conv2d
with weight[:, :, kd]; KD conv2d calls in all, each with the full 2-D fast path and its
double backward. conv_transpose3d is the adjoint: each tap's conv_transpose2d output is
placed at depth i*s + kd*dil (a zero-interleave by s), summed, then cropped by the padding.
"""
from __future__ import annotations

from ... import amp as _amp
from ...ops.movement import pad as _pad
from .conv import _check, _check_channels, _same_padding, conv2d, conv_transpose2d
from .windows import ntuple

__all__ = ["conv3d", "conv_transpose3d"]


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D cross-correlation, as ``torch.nn.functional.conv3d``.

    Shape: input (N, C, D, H, W) or (C, D, H, W); weight (O, C/groups, KD, KH, KW); bias (O,).
    padding: int, triple, 'valid' or 'same' (stride 1 only).
    """
    input, weight, bias = _amp.cast_inputs(input, weight, bias)
    _check(input, weight, bias, groups, 3, "conv3d")
    unbatched = input.ndim == 4
    x = input.unsqueeze(0) if unbatched else input
    s, d = ntuple(stride, 3, "stride"), ntuple(dilation, 3, "dilation")
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
        if padding == "valid":
            padding = (0, 0, 0)
        else:
            if s != (1, 1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            lr = _same_padding(weight.shape[2:], d)        # (front, back, top, bottom, left, right)
            if any(lr[i] != lr[i + 1] for i in (0, 2, 4)):  # asymmetric: pad the input explicitly, as PyTorch
                x = _pad(x, (lr[4], lr[5], lr[2], lr[3], lr[0], lr[1]))
                padding = (0, 0, 0)
            else:
                padding = (lr[0], lr[2], lr[4])
    p = ntuple(padding, 3, "padding")
    _check_channels(x, weight, bias, groups)
    return _conv3d(x, weight, bias, s, p, d, groups, unbatched)


def _conv3d(x, weight, bias, s, p, d, groups, unbatched):
    N, C, D, H, W = x.shape
    KD = weight.shape[2]
    if p[0]:
        x = _pad(x, (0, 0, 0, 0, p[0], p[0]))
    OD = (D + 2 * p[0] - d[0] * (KD - 1) - 1) // s[0] + 1
    if OD <= 0:
        raise RuntimeError(f"Calculated padded input size per channel: ({D + 2 * p[0]} x {H + 2 * p[1]} x "
                           f"{W + 2 * p[2]}). Kernel size: ({d[0] * (KD - 1) + 1} x ...). Kernel size can't be "
                           "greater than actual input size")
    y = None
    for kd in range(KD):
        a = kd * d[0]
        xs = x[:, :, a:a + (OD - 1) * s[0] + 1:s[0]]                      # (N, C, OD, H, W)
        xs = xs.movedim(2, 1).reshape(N * OD, C, H, W)
        ys = conv2d(xs, weight[:, :, kd], None, s[1:], p[1:], d[1:], groups)   # (N*OD, O, OH, OW)
        y = ys if y is None else y + ys
    y = y.reshape((N, OD) + tuple(y.shape[1:])).movedim(1, 2)            # (N, O, OD, OH, OW)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1, 1)
    return y.squeeze(0) if unbatched else y


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 3-D convolution, as ``torch.nn.functional.conv_transpose3d``.

    Shape: input (N, Cin, D, H, W); weight (Cin, Cout/groups, KD, KH, KW); returns
    (N, Cout, (D-1)*stride - 2*padding + dilation*(KD-1) + output_padding + 1, ...).
    """
    input, weight, bias = _amp.cast_inputs(input, weight, bias)
    _check(input, weight, bias, groups, 3, "conv_transpose3d")
    unbatched = input.ndim == 4
    x = input.unsqueeze(0) if unbatched else input
    s, p = ntuple(stride, 3, "stride"), ntuple(padding, 3, "padding")
    op, d = ntuple(output_padding, 3, "output_padding"), ntuple(dilation, 3, "dilation")
    N, Cin, D, H, W = x.shape
    if Cin != weight.shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input {list(x.shape)} "
                           f"to have {weight.shape[0]} channels, but got {Cin} channels instead")
    if any(o >= max(si, di) for o, si, di in zip(op, s, d)):
        raise RuntimeError(f"output padding must be smaller than either stride or dilation, but got output_padding "
                           f"{list(op)} stride {list(s)} dilation {list(d)}")
    KD = weight.shape[2]
    full = (D - 1) * s[0] + d[0] * (KD - 1) + 1 + op[0]
    OD = full - 2 * p[0]
    if OD < 1:
        raise RuntimeError(f"conv_transpose3d: output size {OD} is too small")
    xs = x.movedim(2, 1).reshape(N * D, Cin, H, W)
    span = (D - 1) * s[0] + 1
    y = None
    for kd in range(KD):
        z = conv_transpose2d(xs, weight[:, :, kd], None, s[1:], p[1:], op[1:], groups, d[1:])  # (N*D, Co, OH, OW)
        z = z.reshape((N, D) + tuple(z.shape[1:])).permute(0, 2, 3, 4, 1)    # (N, Co, OH, OW, D)
        if s[0] > 1:   # zero-interleave: input depth i lands at i*s
            z = _pad(z.unsqueeze(-1), (0, s[0] - 1)).reshape(tuple(z.shape[:-1]) + (D * s[0],))[..., :span]
        z = _pad(z, (kd * d[0], full - kd * d[0] - span))                  # (N, Co, OH, OW, full)
        y = z if y is None else y + z
    y = y[..., p[0]:p[0] + OD].permute(0, 1, 4, 2, 3)                       # (N, Co, OD, OH, OW)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1, 1)
    return y.squeeze(0) if unbatched else y
