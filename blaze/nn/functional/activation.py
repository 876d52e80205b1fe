"""Activation functions, as ``torch.nn.functional``.

Pointwise activations are composed of Tensor ops (like tinygrad's ``relu`` as a ``where``),
so they differentiate twice — a WGAN-GP gradient penalty backpropagates through the
backward of leaky_relu/sigmoid/tanh. softmax / log_softmax are one fused Function each
over the backend primitives ``be.softmax`` / ``be.softmax_backward`` (kernels/softmax.py).
"""
from __future__ import annotations

import math

from ... import amp as _amp
from ... import dtypes as _dt
from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...ops.creation import zeros_like
from ...ops import pointwise as _P
from ...ops.pointwise import where
from ..._tensor import Tensor


def _apply(input: Tensor, fn, inplace: bool) -> Tensor:
    """Return ``fn(input)``, or write it into ``input`` for the ``inplace=True`` variants."""
    if not inplace:
        return fn(input)
    return input._inplace_apply(fn)


def relu(input, inplace: bool = False):
    """max(x, 0)."""
    return _apply(input, lambda x: x.relu(), inplace)


def relu_(input):
    return relu(input, inplace=True)


def _clip(x, lo: float, hi: float):
    # clamp whose gradient is 1 only strictly inside (lo, hi), as PyTorch's hardtanh_backward
    # (a bare clamp passes it at the boundaries too: relu6'(0) would be 1, not 0)
    return where((x > lo) & (x < hi), x, x.clamp(lo, hi).detach())


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    """clamp(x, min_val, max_val)."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _apply(input, lambda x: _clip(x, min_val, max_val), inplace)


def relu6(input, inplace: bool = False):
    """min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """x if x > 0 else negative_slope * x (twice differentiable: a where over Tensors)."""
    return _apply(input, lambda x: where(x > 0, x, x * negative_slope), inplace)


def leaky_relu_(input, negative_slope: float = 0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def _neg_expm1(input, scale: float = 1.0):
    # expm1 of the clamped input: the unused branch of the where never overflows, so its
    # zero gradient is 0 * finite and not 0 * inf = NaN for large positive x.
    return (input.clamp(max=0) / scale).expm1()


def elu(input, alpha: float = 1.0, inplace: bool = False):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _apply(input, lambda x: where(x > 0, x, alpha * _neg_expm1(x)), inplace)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace: bool = False):
    """scale * elu(x, alpha) with the self-normalizing constants."""
    return _apply(input, lambda x: _SELU_SCALE * where(x > 0, x, _SELU_ALPHA * _neg_expm1(x)), inplace)


def celu(input, alpha: float = 1.0, inplace: bool = False):
    """x if x > 0 else alpha * (exp(x / alpha) - 1)."""
    return _apply(input, lambda x: where(x > 0, x, alpha * _neg_expm1(x, alpha)), inplace)


class _Gelu(Function):
    """Exact GELU over ``be.gelu`` / ``be.gelu_backward``: the composed form made 5 forward and
    ~12 backward passes over a (16*128, 512) activation (~17 ms of a 100 ms transformer step);
    the primitives make ~4 and ~6 in place. Under ``create_graph`` the backward is the Tensor-op
    formula, differentiable again."""
    _internal = True

    @staticmethod
    def forward(ctx, x):
        be = x._device.backend
        y, cdf = be.gelu(x._data)
        ctx.save_for_backward(x)
        ctx.cdf = cdf
        return Tensor._make(y, x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if is_grad_enabled():  # d/dx x Phi(x) = Phi(x) + x phi(x)
            cdf = 0.5 * (1 + (x * (1 / math.sqrt(2.0))).erf())
            return g * (cdf + x * (x * x * -0.5).exp() * (1 / math.sqrt(2.0 * math.pi)))
        be = g._device.backend
        return Tensor._make(be.gelu_backward(g._data, x._data, ctx.cdf), g._device, g._dtype)


def gelu(input, approximate: str = "none"):
    """x * Phi(x); ``approximate='tanh'`` uses 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if approximate == "none":
        if input.dtype.is_floating_point:
            return _Gelu.apply(input)
        return 0.5 * input * (1 + (input * (1 / math.sqrt(2.0))).erf())
    if approximate == "tanh":
        return _P._gelu_tanh(input)
    raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")


def silu(input, inplace: bool = False):
    """x * sigmoid(x)."""
    return _apply(input, _P._silu, inplace)


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + exp(beta x)) / beta, linear (= x) where beta x > threshold."""
    bx = input * beta
    return where(bx > threshold, input, _softplus_stable(bx) / beta)


def _softplus_stable(x):
    """log(1 + exp(x)) without overflow and with gradient sigmoid(x) everywhere.

    max(x, 0) + log1p(exp(-|x|)) has the right value, but at x = 0 its pieces' one-sided
    gradients add to 1 (clamp) + 0 (abs) instead of sigmoid(0) = 0.5. Two smooth branches
    joined by where, each fed an argument clamped to its own side (so exp never overflows
    and the unselected branch gets no inf * 0 = nan), have the exact gradient.
    """
    pos = x > 0
    zero = zeros_like(x)
    xp, xn = where(pos, x, zero), where(pos, zero, x)
    return where(pos, xp + (-xp).exp().log1p(), xn.exp().log1p())


def mish(input, inplace: bool = False):
    """x * tanh(softplus(x))."""
    return _apply(input, lambda x: x * softplus(x).tanh(), inplace)


def tanh(input):
    return input.tanh()


def sigmoid(input):
    return input.sigmoid()


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return -softplus(-input)


def hardsigmoid(input, inplace: bool = False):
    """relu6(x + 3) / 6."""
    return _apply(input, lambda x: _clip(x + 3, 0.0, 6.0) / 6, inplace)


def hardswish(input, inplace: bool = False):
    """x * relu6(x + 3) / 6; gradient 0 at x <= -3 and 1 at x >= 3, as PyTorch's hardswish_backward
    (a clamp product would give -0.5 at x = -3 and 1.5 at x = 3)."""
    return _apply(input, lambda x: where(x <= -3, zeros_like(x), where(x < 3, x * (x + 3) / 6, x)), inplace)


def softsign(input):
    return input / (1 + input.abs())


def tanhshrink(input):
    return input - input.tanh()


def threshold(input, threshold: float, value: float, inplace: bool = False):
    """x if x > threshold else value."""
    return _apply(input, lambda x: where(x > threshold, x, value), inplace)


def hardshrink(input, lambd: float = 0.5):
    return where(input.abs() > lambd, input, 0.0)


def softshrink(input, lambd: float = 0.5):
    return where(input > lambd, input - lambd, where(input < -lambd, input + lambd, 0.0))


def glu(input, dim: int = -1):
    """a * sigmoid(b) where (a, b) are the two halves of ``input`` along ``dim``."""
    n = input.shape[dim]
    if n % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {input._wrap_dim(dim)} is size {n}")
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def prelu(input, weight):
    """x if x > 0 else weight * x, with weight (C,) broadcast along dim 1 (or a single (1,) weight)."""
    w = weight
    if weight.numel() != 1:
        if input.ndim < 2 or input.shape[1] != weight.numel():
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                               f"{weight.numel()} and channel size = {input.shape[1] if input.ndim > 1 else 1}.")
        w = weight.reshape((-1,) + (1,) * (input.ndim - 2))  # (C, 1, ..., 1) broadcasts over (N, C, *)
    return where(input > 0, input, w * input)


def rrelu(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, inplace: bool = False):
    """Randomized leaky ReLU; in eval it is leaky_relu with slope (lower + upper) / 2."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    slope = input.detach().new_empty(input.shape).uniform_(lower, upper)
    return _apply(input, lambda x: where(x >= 0, x, x * slope), inplace)


# ---------------------------------------------------------------------------- softmax family
def _softmax_dim(ndim: int) -> int:
    # PyTorch's legacy implicit dim (with a deprecation warning there)
    return 0 if ndim in (0, 1, 3) else 1


class _Softmax(Function):
    """softmax / log_softmax along the last dim of a tensor; one fused backend primitive each way."""
    _internal = True

    @staticmethod
    def forward(ctx, x, log):
        be = x._device.backend
        shape = x._data.shape
        n = shape[-1] if shape else 1
        if x._data.size == 0:  # an empty result, as PyTorch: (M, 0) has no -1 reshape and no kernel grid
            y = Tensor._make(be.empty(shape, x._dtype), x._device, x._dtype)
        else:
            rows = be.reshape(be.contiguous(x._data), (-1, n))  # (M, N): every leading dim is a row
            y = Tensor._make(be.reshape(be.softmax(rows, log), shape), x._device, x._dtype)
        ctx.log = log
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        if is_grad_enabled():
            # create_graph: the same formula as Tensor ops, so it can be differentiated again
            if ctx.log:
                return g - y.exp() * g.sum(-1, keepdim=True), None
            return y * (g - (g * y).sum(-1, keepdim=True)), None
        be = g._device.backend
        shape = g._data.shape
        if g._data.size == 0:
            return Tensor._make(be.empty(shape, g._dtype), g._device, g._dtype), None
        n = shape[-1] if shape else 1
        gr = be.reshape(be.contiguous(g._data), (-1, n))
        yr = be.reshape(be.contiguous(y._data), (-1, n))
        return Tensor._make(be.reshape(be.softmax_backward(gr, yr, ctx.log), shape), g._device, g._dtype), None


def _softmax_any_dim(input, dim, dtype, log: bool):
    if dtype is None:  # autocast: float32 unless the caller names a dtype (torch's fp32_set_opt_dtype)
        (input,) = _amp.cast_fp32(input)
    if dtype is not None:
        input = input.to(_dt.to_dtype(dtype))
    elif not input.dtype.is_floating_point:
        raise RuntimeError(f"\"softmax\" not implemented for '{_dt.type_label(input.dtype)}'")
    if input.ndim == 0:
        return _Softmax.apply(input.reshape(1), log).reshape(())
    dim = _softmax_dim(input.ndim) if dim is None else input._wrap_dim(dim)
    last = input.ndim - 1
    if dim == last:
        return _Softmax.apply(input, log)
    moved = input.transpose(dim, last)  # the softmax dim becomes the contiguous last one
    return _Softmax.apply(moved, log).transpose(dim, last)


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim`` (computed in ``dtype`` if given)."""
    return _softmax_any_dim(input, dim, dtype, False)


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """x - logsumexp(x) along ``dim``."""
    return _softmax_any_dim(input, dim, dtype, True)


def softmin(input, dim=None, _stacklevel: int = 3, dtype=None):
    """softmax(-x) along ``dim``."""
    return _softmax_any_dim(-input, dim, dtype, False)


def gumbel_softmax(logits, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1):
    """softmax((logits + g) / tau) with g ~ Gumbel(0, 1), as ``torch.nn.functional.gumbel_softmax``.

    ``hard=True`` returns the one-hot of the argmax in the forward pass and the soft sample's
    gradient (straight-through: y_hard - y_soft.detach() + y_soft). ``eps`` is unused, as PyTorch.
    """
    gumbels = -zeros_like(logits).exponential_().log()     # -log(Exp(1)) ~ Gumbel(0, 1)
    y_soft = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = zeros_like(logits).scatter(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


def elu_(input, alpha: float = 1.0):
    return elu(input, alpha, inplace=True)


def selu_(input):
    return selu(input, inplace=True)


def celu_(input, alpha: float = 1.0):
    return celu(input, alpha, inplace=True)


def hardtanh_(input, min_val: float = -1.0, max_val: float = 1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def threshold_(input, threshold: float, value: float):  # noqa: F811 - the argument shadows the function, as torch's
    return globals()["threshold"](input, threshold, value, inplace=True)


def rrelu_(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False):
    return rrelu(input, lower, upper, training, inplace=True)


__all__ = ["gumbel_softmax", "elu_", "selu_", "celu_", "hardtanh_", "threshold_", "rrelu_", "relu", "relu_", "relu6",
           "hardtanh", "leaky_relu", "leaky_relu_", "elu", "selu", "celu", "gelu", "silu", "softplus", "mish", "tanh",
           "sigmoid", "logsigmoid", "hardsigmoid", "hardswish", "softsign", "tanhshrink", "threshold", "hardshrink",
           "softshrink", "glu", "prelu", "rrelu", "softmax", "log_softmax", "softmin"]
