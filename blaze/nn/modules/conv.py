"""Convolution layers: Conv1d/2d/3d, ConvTranspose1d/2d/3d (PyTorch's parameters and init)."""
from __future__ import annotations

import math

from ...ops.creation import empty
from ...ops.movement import pad as _pad
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(v, n):
    t = (v,) * n if isinstance(v, int) else tuple(int(i) for i in v)
    if len(t) != n:
        raise ValueError(f"expected an int or a tuple of {n} ints, got {v!r}")
    return t


class _ConvNd(Module):
    """Shared state of the conv layers: weight (O, C/groups, *k) or, transposed, (C, O/groups, *k)."""

    _nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, transposed,
                 output_padding, groups, bias, padding_mode, device=None, dtype=None):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, but got padding_mode='{padding_mode}'")
        n = self._nd
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in _ntuple(stride, n)):
                raise ValueError("padding='same' is not supported for strided convolutions")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _ntuple(kernel_size, n), _ntuple(stride, n)
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, n)
        self.dilation, self.output_padding = _ntuple(dilation, n), _ntuple(output_padding, n)
        self.transposed, self.groups, self.padding_mode = transposed, groups, padding_mode
        shape = ((in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups))
        self.weight = Parameter(empty(*shape, *self.kernel_size, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def _mode_pad(self, x):
        """Explicit reflect/replicate/circular padding: (left, right) per spatial dim, last dim first."""
        pads = []
        if isinstance(self.padding, str):       # 'same': total d*(k-1), the extra one on the far side
            for k, d in zip(reversed(self.kernel_size), reversed(self.dilation)):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]
        else:
            for p in reversed(self.padding):
                pads += [p, p]
        return _pad(x, pads, mode=self.padding_mode)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _conv_forward(self, input, weight, bias):
        conv = (F.conv1d, F.conv2d, F.conv3d)[self._nd - 1]
        if self.padding_mode != "zeros":
            return conv(self._mode_pad(input), weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)


class _Conv(_ConvNd):
    """PyTorch's ConvNd constructor signature (the transposed ones have their own)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups, bias,
                         padding_mode, device, dtype)


class Conv2d(_Conv):
    """2-D convolution over (N, C, H, W), as ``torch.nn.Conv2d``.

    weight (out_channels, in_channels/groups, KH, KW), bias (out_channels,).
    padding: int, pair, 'same' or 'valid'; padding_mode: zeros | reflect | replicate | circular.

    Example::

        conv = nn.Conv2d(1, 32, 3, padding=1)   # (N, 1, 28, 28) -> (N, 32, 28, 28)
    """

    _nd = 2


class Conv1d(_Conv):
    """1-D convolution over (N, C, L), as ``torch.nn.Conv1d``; weight (out, in/groups, K)."""

    _nd = 1


class _ConvTransposeNd(_ConvNd):
    """ConvTransposeNd: ``forward(input, output_size=None)``, output_size picking output_padding as PyTorch."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding,
                         groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size):
        """output_padding that yields ``output_size`` (PyTorch's rule), else the configured one."""
        if output_size is None:
            return self.output_padding
        n = self._nd
        output_size = tuple(int(s) for s in output_size)[-n:]
        out = []
        for d in range(n):
            lo = ((input.shape[d - n] - 1) * self.stride[d] - 2 * self.padding[d]
                  + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            extra = output_size[d] - lo
            if not 0 <= extra < max(self.stride[d], self.dilation[d]):
                raise ValueError(f"requested an output size of {list(output_size)}, but valid sizes range from "
                                 f"{lo} to {lo + max(self.stride[d], self.dilation[d]) - 1} (for an input of "
                                 f"{list(input.shape[-n:])})")
            out.append(extra)
        return tuple(out)

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self._nd - 1]
        return conv(input, self.weight, self.bias, self.stride, self.padding, op, self.groups, self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution, as ``torch.nn.ConvTranspose2d``; weight (in, out/groups, KH, KW).

    ``forward(input, output_size=None)``: output_size picks the output_padding, as PyTorch.
    """

    _nd = 2


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution, as ``torch.nn.ConvTranspose1d``; weight (in, out/groups, K)."""

    _nd = 1


class Conv3d(_Conv):
    """3-D convolution over (N, C, D, H, W), as ``torch.nn.Conv3d``; weight (out, in/groups, KD, KH, KW)."""

    _nd = 3


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution, as ``torch.nn.ConvTranspose3d``; weight (in, out/groups, KD, KH, KW)."""

    _nd = 3


def __getattr__(name):  # PyTorch's path for the Lazy* forms, defined in .lazy (which imports this module)
    if name.startswith("LazyConv"):
        from . import lazy
        return getattr(lazy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
