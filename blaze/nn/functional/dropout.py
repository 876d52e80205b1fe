"""Dropout family, as ``torch.nn.functional``. Masks come from blaze's seeded generator.

``dropout`` is one Function over ``be.dropout(x, p, gen) -> (y, state)`` and
``be.dropout_backward(dy, p, state)``: the NumPy backend keeps the mask as ``state``; the
Triton kernel (kernels/random.py) keeps only its Philox (seed, offset) and regenerates the
mask in the backward, so no (N,) mask is ever stored. Channel-wise variants multiply by a
(N, C, 1, ..) mask tensor (composed, tiny).
"""
from __future__ import annotations

from ...autograd.function import Function
from ...random import default_generator
from ..._tensor import Tensor
from .activation import _SELU_ALPHA, _SELU_SCALE, _apply


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


class _DropoutMask(Function):
    """dy * keep / (1 - p) with a stored mask state; linear in dy, so its backward is itself."""
    _internal = True

    @staticmethod
    def forward(ctx, dy, p, state):
        ctx.p, ctx.state = p, state
        return Tensor._make(dy._device.backend.dropout_backward(dy._data, p, state), dy._device, dy._dtype)

    @staticmethod
    def backward(ctx, g):
        return _DropoutMask.apply(g, ctx.p, ctx.state), None, None


class _Dropout(Function):
    _internal = True

    @staticmethod
    def forward(ctx, x, p, gen):
        y, state = x._device.backend.dropout(x._data, p, gen)
        ctx.p, ctx.state = p, state
        return Tensor._make(y, x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        return _DropoutMask.apply(g, ctx.p, ctx.state), None, None


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False, generator=None):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) (identity if not training)."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _apply(input, lambda x: _Dropout.apply(x, float(p), generator or default_generator), inplace)


def _channel_mask(input, p: float, batched_ndim: int, generator):
    """(N, C, 1, ..) keep mask (already scaled by 1/(1-p)) for inputs of ``batched_ndim`` dims."""
    lead = 2 if input.ndim == batched_ndim else 1  # unbatched (C, *) drops whole channels too
    shape = tuple(input.shape[:lead]) + (1,) * (input.ndim - lead)
    be = input._device.backend
    m = be.dropout_mask(shape, p, generator or default_generator)
    return Tensor._make(be.cast(m, input.dtype), input._device, input.dtype)


def _feature_dropout(input, p, training, inplace, batched_ndim, generator=None):
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _apply(input, lambda x: x * _channel_mask(x, p, batched_ndim, generator), inplace)


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, L) (or (C, L)) with probability p."""
    return _feature_dropout(input, p, training, inplace, 3)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, H, W) (or (C, H, W)) with probability p."""
    return _feature_dropout(input, p, training, inplace, 4)


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, D, H, W) with probability p."""
    return _feature_dropout(input, p, training, inplace, 5)


def _alpha_dropout(input, p, training, inplace, keep_mask):
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _apply(input, lambda x: x * 0.0, inplace)
    alpha_p = -_SELU_ALPHA * _SELU_SCALE
    a = ((1 - p) * (1 + p * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * p
    keep = keep_mask(input) * (1 - p)  # 0/1
    return _apply(input, lambda x: (x * keep + alpha_p * (1 - keep)) * a + b, inplace)


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False):
    """Dropout that keeps SELU's zero mean / unit variance: dropped units take SELU's negative
    saturation value, then an affine map a * x + b restores the moments (Klambauer et al.)."""
    def mask(x):
        be = x._device.backend
        return Tensor._make(be.cast(be.dropout_mask(tuple(x.shape), p, default_generator), x.dtype), x._device, x.dtype)
    return _alpha_dropout(input, p, training, inplace, mask)


def feature_alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False):
    """``alpha_dropout`` of whole channels: one keep/drop per (sample, channel) of (N, C, *)."""
    return _alpha_dropout(input, p, training, inplace, lambda x: _channel_mask(x, p, x.ndim, None))


__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]
