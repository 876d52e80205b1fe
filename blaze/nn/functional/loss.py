"""Loss functions, as ``torch.nn.functional``; every one takes reduction 'none' | 'mean' | 'sum'.

cross_entropy with class-index targets is ONE fused Function over the backend primitive
pair ``be.cross_entropy`` -> (loss_rows, lse, row_weight) and ``be.cross_entropy_backward``
(softmax - smoothed one-hot), the same contract as kernels/loss.py: the (N, C)
log-probabilities never exist in memory. The other losses are composed of Tensor ops.
"""
from __future__ import annotations

import functools
import inspect
import warnings

from ... import amp as _amp
from ... import dtypes as _dt
from ...autograd.function import Function
from ...devices.cuda.memory import reporting_as
from ...autograd.grad_mode import is_grad_enabled
from ...ops.pointwise import where
from ..._tensor import Tensor
from .activation import _softplus_stable, log_softmax, softmax

_REDUCTIONS = {
    "none": lambda loss: loss,
    "mean": lambda loss: loss.mean(),
    "sum": lambda loss: loss.sum(),
}


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    fn = _REDUCTIONS.get(reduction)
    if fn is None:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return fn(loss)


def _check_same_size(input, target, name: str) -> None:
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")


def _rows(input: Tensor, target: Tensor):
    """(N, C, d1, ...) logits and (N, d1, ...) targets -> (N*d1*..., C) and (N*d1*...,)."""
    c = input.shape[1]
    if input.ndim == 2:
        return input, target
    x = input.movedim(1, -1).reshape(-1, c)  # (N, d1, .., C) -> (N*d1*.., C)
    return x, target.reshape(-1)


def _check_targets(input: Tensor, target: Tensor, ignore_index: int, fn: str) -> None:
    n = input.shape[0]
    if input.ndim >= 2 and tuple(target.shape) != (n,) + tuple(input.shape[2:]):
        if input.ndim == 2:
            tn = target.shape[0] if target.ndim else 1
            raise ValueError(f"Expected input batch_size ({n}) to match target batch_size ({tn}).")
        raise RuntimeError(f"Expected target size {[n] + list(input.shape[2:])}, got {list(target.shape)}")
    if target.dtype.is_floating_point or target.dtype is _dt.bool_:
        raise RuntimeError(f"expected scalar type Long but found {_dt.type_label(target.dtype)}")
    if target.device.type == "cpu" and target.numel():
        # a host check is free on the CPU; on cuda it would be a sync per step (the kernel
        # gives NaN for out-of-range rows instead)
        t = target._data
        c = input.shape[1] if input.ndim >= 2 else input.shape[0]
        bad = (t != ignore_index) & ((t < 0) | (t >= c))
        if bad.any():
            raise IndexError(f"Target {int(t[bad].reshape(-1)[0])} is out of bounds.")


class _CrossEntropy(Function):
    """Per-row CE of (M, C) logits against (M,) class indices; outputs (loss_rows, row_weight)."""
    _internal = True

    @staticmethod
    def forward(ctx, logits, target, weight, ignore_index, label_smoothing):
        be = logits._device.backend
        loss, lse, row_w = be.cross_entropy(logits._data, target._data, ignore_index, label_smoothing,
                                            None if weight is None else weight._data)
        ctx.save_for_backward(logits, target, weight)
        ctx.lse, ctx.args = lse, (ignore_index, label_smoothing)
        dev = logits._device
        row_w_t = Tensor._make(row_w, dev)
        ctx.mark_non_differentiable(row_w_t)
        return Tensor._make(loss, dev), row_w_t

    @staticmethod
    def backward(ctx, g_loss, g_row_w):
        logits, target, weight = ctx.saved_tensors
        ignore_index, eps = ctx.args
        if is_grad_enabled():
            return _ce_grad_composed(g_loss, logits, target, weight, ignore_index, eps), None, None, None, None
        be = logits._device.backend
        d = be.cross_entropy_backward(g_loss._data, logits._data, target._data, ctx.lse, ignore_index, eps,
                                      None if weight is None else weight._data)
        return Tensor._make(d, logits._device, logits._dtype), None, None, None, None


def _ce_grad_composed(g, logits, target, weight, ignore_index, eps):
    """The fused backward as Tensor ops (only for create_graph=True: double backward)."""
    c = logits.shape[1]
    valid = target != ignore_index
    t = where(valid, target, 0)
    onehot = one_hot(t, c).to(logits.dtype)
    w = weight if weight is not None else logits.new_ones(c)
    w_t = w[t]
    coef_t = (1 - eps) * w_t
    coef_p = coef_t + eps / c * w.sum()
    p = softmax(logits, -1)
    d = p * coef_p.unsqueeze(1) - onehot * coef_t.unsqueeze(1) - eps / c * w
    return where(valid.unsqueeze(1), d * g.to(logits.dtype).unsqueeze(1), 0.0)


def one_hot(tensor, num_classes: int = -1):
    """(*) int64 class indices -> (*, num_classes) int64 one-hot."""
    from ...ops.creation import arange
    if tensor.dtype.is_floating_point:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if tensor.numel():  # out-of-range classes would give all-zero rows silently
        if tensor.min().item() < 0:
            raise RuntimeError("Class values must be non-negative.")
        top = int(tensor.max().item())
        if num_classes < 0:
            num_classes = top + 1
        elif top >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    elif num_classes < 0:
        raise RuntimeError("Can not infer total number of classes from empty tensor.")
    classes = arange(num_classes, device=tensor.device)
    return (tensor.unsqueeze(-1) == classes).long()


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0):
    """Cross-entropy between logits and class indices (or class probabilities), as torch's.

    Shape: input (N, C) or (N, C, d1, ...) or (C,); target (N,) / (N, d1, ...) / () int64
    class indices, or float probabilities of input's shape. weight: (C,) class weights.
    reduction='mean' with indices divides by the summed weight of non-ignored targets.
    """
    input, target, weight = _amp.cast_fp32(input, target, weight)  # autocast: losses compute in float32
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if input.ndim == 1:  # unbatched (C,)
        out = cross_entropy(input.unsqueeze(0), target.unsqueeze(0), weight, None, ignore_index, None,
                            reduction, label_smoothing)
        return out.squeeze(0) if reduction == "none" else out
    if target.dtype.is_floating_point:
        return _cross_entropy_soft(input, target, weight, reduction, label_smoothing)
    _check_targets(input, target, ignore_index, "cross_entropy")
    x, t = _rows(input, target)
    if weight is not None and weight.dtype is not x.dtype:
        weight = weight.to(x.dtype)
    loss, row_w = _CrossEntropy.apply(x, t, weight, int(ignore_index), float(label_smoothing))
    if reduction == "none":
        out = loss.reshape((input.shape[0],) + tuple(input.shape[2:]))
    elif reduction == "sum":
        out = loss.sum()
    else:
        out = loss.sum() / row_w.sum()
    return out if out.dtype is input.dtype else out.to(input.dtype)


def _cross_entropy_soft(input, target, weight, reduction, eps):
    _check_same_size(input, target, "cross_entropy")
    c = input.shape[1]
    if eps > 0:
        target = target * (1 - eps) + eps / c
    logp = log_softmax(input, 1)
    if weight is not None:
        logp = logp * weight.reshape((c,) + (1,) * (input.ndim - 2))  # (C, 1, ..) broadcasts over (N, C, ..)
    loss = -(logp * target).sum(1)
    return _reduce(loss, reduction)  # 'mean' divides by the number of rows N*d1*.., not by weights


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean"):
    """-w[t] * input[t] over log-probabilities (N, C) / (N, C, d1, ...); mean divides by sum(w[t])."""
    input, weight = _amp.cast_fp32(input, weight)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if input.ndim == 1:
        out = nll_loss(input.unsqueeze(0), target.unsqueeze(0), weight, None, ignore_index, None, reduction)
        return out.squeeze(0) if reduction == "none" else out
    _check_targets(input, target, ignore_index, "nll_loss")
    x, t = _rows(input, target)
    valid = t != ignore_index
    tc = where(valid, t, 0)
    with reporting_as("nll_loss"):
        picked = x.gather(1, tc.unsqueeze(1)).squeeze(1)  # (M,)
        w_t = weight[tc].to(x.dtype) if weight is not None else x.new_ones(t.shape[0])
    w_t = where(valid, w_t, 0.0)
    loss = -picked * w_t
    if reduction == "none":
        return loss.reshape((input.shape[0],) + tuple(input.shape[2:]))
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w_t.sum()


def _pointwise_loss(fn):
    def loss(input, target, size_average=None, reduce=None, reduction: str = "mean", **kw):
        _check_same_size(input, target, fn.__name__)
        input, target = _amp.cast_fp32(input, target)
        return _reduce(fn(input, target, **kw), reduction)
    loss.__name__ = fn.__name__
    loss.__doc__ = fn.__doc__
    return loss


@_pointwise_loss
def mse_loss(input, target):
    """(x - y)^2."""
    d = input - target
    return d * d


@_pointwise_loss
def l1_loss(input, target):
    """|x - y|."""
    return (input - target).abs()


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
    """0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta (d = x - y); beta = 0 is l1."""
    _check_same_size(input, target, "smooth_l1_loss")
    input, target = _amp.cast_fp32(input, target)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None):
    """0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta)."""
    _check_same_size(input, target, "huber_loss")
    input, target, weight = _amp.cast_fp32(input, target, weight)
    d = (input - target).abs()
    loss = where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


class _BCE(Function):
    """Elementwise -(y log x + (1 - y) log(1 - x)), each log clamped at -100.

    The gradient is PyTorch's binary_cross_entropy_backward, (x - y) / max(x (1 - x), 1e-12):
    finite at saturated x = 0 or 1 (0 where y = x, -1e12 at x = 1e-20, y = 1), where the
    composed log-then-clamp chain gives clamp'(-inf) * log'(0) = 0 * inf = nan. Target gradient:
    clamped log(1 - x) - log(x), as PyTorch.
    """

    @staticmethod
    def forward(ctx, input, target):
        ctx.save_for_backward(input, target)
        lx, l1x = _bce_logs(input)
        return -(target * lx + (1 - target) * l1x)

    @staticmethod
    def backward(ctx, g):
        input, target = ctx.saved_tensors
        gi = gt = None
        if ctx.needs_input_grad[0]:
            gi = g * (input - target) / (input * (1 - input)).clamp(min=1e-12)
        if ctx.needs_input_grad[1]:
            lx, l1x = _bce_logs(input)
            gt = g * (l1x - lx)
        return gi, gt


def _bce_logs(x):
    """(log x, log(1 - x)), each clamped at -100 as PyTorch (no inf at x = 0 or 1)."""
    return x.log().clamp(min=-100), (1 - x).log().clamp(min=-100)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
    """-(y log x + (1 - y) log(1 - x)) with each log clamped at -100, as PyTorch (no inf at x = 0 or 1)."""
    _check_same_size(input, target, "binary_cross_entropy")
    input, target, weight = _amp.cast_fp32(input, target, weight)
    loss = _BCE.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None):
    """BCE on logits, stable: (1 - y) x + (1 + (pw - 1) y) (log1p(exp(-|x|)) + max(-x, 0))."""
    _check_same_size(input, target, "binary_cross_entropy_with_logits")
    input, target, weight, pos_weight = _amp.cast_fp32(input, target, weight, pos_weight)
    # -log(sigmoid(x)) = softplus(-x), in the form whose gradient is exactly -sigmoid(-x): the
    # composed log1p(exp(-|x|)) + max(-x, 0) has gradient -1 at x = 0 instead of -0.5
    log_sig_neg = _softplus_stable(-input)
    if pos_weight is not None:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * log_sig_neg
    else:
        loss = (1 - target) * input + log_sig_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
    """target * (log target - input) pointwise (input holds log-probabilities); 'batchmean' divides by N."""
    input, target = _amp.cast_fp32(input, target)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy: 0 * log 0 = 0
        safe = where(target > 0, target, 1.0)
        loss = where(target > 0, target * (safe.log() - input), 0.0)
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False, size_average=None, eps=1e-8,
                     reduce=None, reduction: str = "mean"):
    """exp(x) - y x (log_input) or x - y log(x + eps)."""
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        import math
        stirling = target * target.log() - target + 0.5 * (2 * math.pi * target).log()
        loss = loss + where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """log(1 + exp(-y x))."""
    z = -target * input
    return _reduce(z.clamp(min=0) + (-z.abs()).exp().log1p(), reduction)


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, size_average=None, reduce=None,
                        reduction: str = "mean"):
    """max(0, -y (x1 - x2) + margin)."""
    return _reduce((-target * (input1 - input2) + margin).clamp(min=0), reduction)


def cosine_embedding_loss(input1, input2, target, margin: float = 0.0, size_average=None, reduce=None,
                          reduction: str = "mean"):
    """1 - cos(x1, x2) for y = 1; max(0, cos - margin) for y = -1."""
    from .misc import cosine_similarity
    cos = cosine_similarity(input1, input2, dim=-1, eps=1e-8)
    return _reduce(where(target > 0, 1 - cos, (cos - margin).clamp(min=0)), reduction)


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
    """0.5 (log(max(var, eps)) + (x - y)^2 / max(var, eps)) [+ 0.5 log(2 pi) if full].

    var: input's shape, or input's shape without its last dim (one variance per sample), or
    with a last dim of 1 (homoscedastic), or a float. As PyTorch the eps clamp is outside
    autograd: var's gradient is taken as if unclamped.
    """
    import math
    from .misc import _clamp_keep_grad
    if not isinstance(var, Tensor):
        var = input.new_full((), float(var))
        if float(var.item()) < 0:
            raise ValueError("var has negative entry/entries")
    elif tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in _REDUCTIONS:
        raise ValueError(reduction + " is not valid")
    if var.device.type == "cpu" and bool((var._data < 0).any()):
        raise ValueError("var has negative entry/entries")
    v = _clamp_keep_grad(var, eps)
    loss = 0.5 * (v.log() + (input - target) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def legacy_reduction(size_average, reduce) -> str:
    """The ``reduction`` that PyTorch's deprecated ``size_average`` / ``reduce`` pair means (either may
    be None = True), as torch's ``_Reduction.legacy_get_string``: both true -> mean, only reduce -> sum."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def _honour_legacy_reduction(fn):
    """Let ``size_average`` / ``reduce`` override ``reduction`` as in PyTorch (mnist's classic test loop
    sums with ``F.nll_loss(output, target, size_average=False)``; ignoring it averaged silently)."""
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        size_average, reduce = bound.arguments.get("size_average"), bound.arguments.get("reduce")
        if size_average is not None or reduce is not None:
            bound.arguments["reduction"] = legacy_reduction(size_average, reduce)
            warnings.warn("size_average and reduce args will be deprecated, please use "
                          f"reduction='{bound.arguments['reduction']}' instead.", UserWarning, stacklevel=2)
            bound.arguments["size_average"] = bound.arguments["reduce"] = None
        return fn(*bound.args, **bound.kwargs)
    return wrapper


__all__ = ["gaussian_nll_loss", "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "kl_div", "one_hot", "poisson_nll_loss", "soft_margin_loss",
           "margin_ranking_loss", "cosine_embedding_loss"]

for _name in __all__:
    if "size_average" in inspect.signature(globals()[_name]).parameters:
        globals()[_name] = _honour_legacy_reduction(globals()[_name])
