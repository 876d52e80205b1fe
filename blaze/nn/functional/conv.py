"""Convolutions: conv1d, conv2d, conv_transpose1d, conv_transpose2d.

conv2d is one Function over the backend primitives ``conv2d``, ``conv2d_backward_input`` and
``conv2d_backward_weight``. Its two backward passes are Functions too, and each one's
backward is again conv-shaped (grad-input of a conv is a transposed conv and vice versa),
so gradients of gradients work: a WGAN-GP penalty differentiates through D's input grad.
"""
from __future__ import annotations

from ... import amp as _amp
from ...autograd.function import Function
from ...ops._util import make, same_device
from ...ops.movement import pad as _pad

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]


def _pair(v, name="argument"):
    t = (v, v) if isinstance(v, int) else tuple(int(i) for i in v)
    if len(t) == 1:
        t = t * 2
    if len(t) != 2:
        raise ValueError(f"expected {name} to be a single integer value or a list of 2 values, got {v!r}")
    return t


class _Conv2d(Function):
    """y = conv2d(x, w) + b; geo = (stride, padding, dilation, groups)."""
    _internal = True

    @staticmethod
    def forward(ctx, x, w, b, geo):
        ctx.geo = geo
        ctx.save_for_backward(x, w)
        y = x._device.backend.conv2d(x._data, w._data, None if b is None else b._data, *geo)
        return make(y, x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb, _ = ctx.needs_input_grad
        gx = _ConvGradInput.apply(g, w, tuple(x.shape), ctx.geo) if nx else None
        gw = _ConvGradWeight.apply(g, x, tuple(w.shape), ctx.geo) if nw else None
        gb = g.sum((0, 2, 3)) if nb else None
        return gx, gw, gb, None


class _ConvGradInput(Function):
    """dx = conv2d_backward_input(dy, w): bilinear in (dy, w), i.e. conv_transpose2d(dy, w)."""
    _internal = True

    @staticmethod
    def forward(ctx, g, w, input_shape, geo):
        ctx.geo = geo
        ctx.save_for_backward(g, w)
        dx = g._device.backend.conv2d_backward_input(g._data, w._data, input_shape, *geo)
        return make(dx, g._device, g._dtype)

    @staticmethod
    def backward(ctx, u):
        g, w = ctx.saved_tensors
        ng, nw, _, _ = ctx.needs_input_grad
        # <u, T(g, w)> = <g, conv2d(u, w)> = <w, conv2d_backward_weight(g, u)>
        gg = _Conv2d.apply(u, w, None, ctx.geo) if ng else None
        gw = _ConvGradWeight.apply(g, u, tuple(w.shape), ctx.geo) if nw else None
        return gg, gw, None, None


class _ConvGradWeight(Function):
    """dw = conv2d_backward_weight(dy, x): bilinear in (dy, x)."""
    _internal = True

    @staticmethod
    def forward(ctx, g, x, weight_shape, geo):
        ctx.geo = geo
        ctx.save_for_backward(g, x)
        dw = g._device.backend.conv2d_backward_weight(g._data, x._data, weight_shape, *geo)
        return make(dw, g._device, x._dtype)

    @staticmethod
    def backward(ctx, u):
        g, x = ctx.saved_tensors
        ng, nx, _, _ = ctx.needs_input_grad
        # <u, W(g, x)> = <g, conv2d(x, u)> = <x, conv2d_backward_input(g, u)>
        gg = _Conv2d.apply(x, u, None, ctx.geo) if ng else None
        gx = _ConvGradInput.apply(g, u, tuple(x.shape), ctx.geo) if nx else None
        return gg, gx, None, None


def _check(input, weight, bias, groups, nd, what):
    same_device(input, weight, bias)
    if input.dtype is not weight.dtype or (bias is not None and bias.dtype is not input.dtype):
        raise RuntimeError(f"Input type ({input.dtype}) and weight type ({weight.dtype}) should be the same"
                           + (f" (bias {bias.dtype})" if bias is not None else ""))
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{what}: expected weight to be {nd + 2}-D, but got {weight.ndim}-D weight of size "
                           f"{list(weight.shape)}")
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {what}, but got input "
                           f"of size: {list(input.shape)}")
    if groups < 1:
        raise RuntimeError("non-positive groups is not supported")


def _same_padding(weight_hw, dilation):
    """(top, bottom, left, right) for padding='same': total d*(k-1), the extra one on the far side."""
    out = []
    for k, d in zip(weight_hw, dilation):
        total = d * (k - 1)
        out += [total // 2, total - total // 2]
    return out


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    Args:
        input: (N, C, H, W) or unbatched (C, H, W); weight: (O, C/groups, KH, KW); bias: (O,).
        stride, dilation: int or pair; padding: int, pair, 'valid' or 'same' (stride 1 only).

    Returns:
        (N, O, P, Q) with P = (H + 2*pad - dil*(KH-1) - 1) // stride + 1.
    """
    # autocast: a lower-precision op (conv1d reaches it through here)
    input, weight, bias = _amp.cast_inputs(input, weight, bias)
    _check(input, weight, bias, groups, 2, "conv2d")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            t, b, l, r = _same_padding(weight.shape[2:], dilation)
            if t != b or l != r:  # asymmetric: pad the input explicitly, as PyTorch does
                x = _pad(x, (l, r, t, b))
                padding = (0, 0)
            else:
                padding = (t, l)
        else:
            raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
    padding = _pair(padding, "padding")
    _check_channels(x, weight, bias, groups)
    H, W = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
    kh, kw = (dilation[0] * (weight.shape[2] - 1) + 1, dilation[1] * (weight.shape[3] - 1) + 1)
    if H < kh or W < kw:
        raise RuntimeError(f"Calculated padded input size per channel: ({H} x {W}). Kernel size: ({kh} x {kw}). "
                           "Kernel size can't be greater than actual input size")
    y = _Conv2d.apply(x, weight, bias, (stride, padding, dilation, int(groups)))
    return y.squeeze(0) if unbatched else y


def _check_channels(x, weight, bias, groups):
    C = x.shape[1]
    if C != weight.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
                           f"{list(x.shape)} to have {weight.shape[1] * groups} channels, but got {C} channels "
                           "instead")
    if weight.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size {list(weight.shape)} instead")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
                           f"{weight.shape[0]} elements, but got bias of size {list(bias.shape)} instead")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation, as ``torch.nn.functional.conv1d``: conv2d with a unit height.

    Shapes: input (N, C, L) or (C, L); weight (O, C/groups, K); returns (N, O, L_out).
    """
    _check(input, weight, bias, groups, 1, "conv1d")
    x = input.unsqueeze(-2)                                        # (N, C, 1, L)
    one = lambda v: (1, v if isinstance(v, int) else int(v[0]))    # noqa: E731
    pad = padding if isinstance(padding, str) else (0, padding if isinstance(padding, int) else int(padding[0]))
    y = conv2d(x, weight.unsqueeze(-2), bias, one(stride), pad, one(dilation), groups)
    return y.squeeze(-2)


def _transpose_shape(x, weight, stride, padding, output_padding, dilation, groups, output_size=None):
    N, Cin, H, W = x.shape
    if Cin != weight.shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input {list(x.shape)} "
                           f"to have {weight.shape[0]} channels, but got {Cin} channels instead")
    if Cin % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0")
    out = []
    for i, size in enumerate((H, W)):
        o = (size - 1) * stride[i] - 2 * padding[i] + dilation[i] * (weight.shape[2 + i] - 1) + output_padding[i] + 1
        out.append(o)
        if output_padding[i] >= max(stride[i], dilation[i]):
            raise RuntimeError(f"output padding must be smaller than either stride or dilation, but got "
                               f"output_padding {list(output_padding)} stride {list(stride)} dilation "
                               f"{list(dilation)}")
        if o < 1:
            raise RuntimeError(f"conv_transpose2d: output size {o} is too small")
    return (N, weight.shape[1] * groups, out[0], out[1])


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution, as ``torch.nn.functional.conv_transpose2d``.

    The gradient of conv2d w.r.t. its input, applied to ``input``.
    Shapes: input (N, Cin, H, W); weight (Cin, Cout/groups, KH, KW); bias (Cout,);
    returns (N, Cout, (H-1)*stride - 2*padding + dilation*(KH-1) + output_padding + 1, ...).
    """
    # autocast: a lower-precision op (conv_transpose1d reaches it through here)
    input, weight, bias = _amp.cast_inputs(input, weight, bias)
    _check(input, weight, bias, groups, 2, "conv_transpose2d")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
    output_padding, dilation = _pair(output_padding, "output_padding"), _pair(dilation, "dilation")
    shape = _transpose_shape(x, weight, stride, padding, output_padding, dilation, groups)
    y = _ConvGradInput.apply(x, weight, shape, (stride, padding, dilation, int(groups)))
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-D convolution: conv_transpose2d with a unit height. weight (Cin, Cout/groups, K)."""
    one = lambda v: (1, v if isinstance(v, int) else int(v[0]))    # noqa: E731
    zero = lambda v: (0, v if isinstance(v, int) else int(v[0]))   # noqa: E731
    y = conv_transpose2d(input.unsqueeze(-2), weight.unsqueeze(-2), bias, one(stride), zero(padding),
                         zero(output_padding), groups, one(dilation))
    return y.squeeze(-2)
