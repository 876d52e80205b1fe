"""Margin and embedding losses, as ``torch.nn.functional``: triplet, hinge-embedding, multi-label and
multi-class margin, multi-label soft-margin. Each is composed of Tensor ops (autograd on every device)."""
from __future__ import annotations

import numpy as np

from ...ops.creation import arange
from ...ops.creation import tensor as _tensor
from ...ops.pointwise import where
from .activation import logsigmoid
from .loss import _reduce
from .misc import pairwise_distance

__all__ = ["triplet_margin_loss", "triplet_margin_with_distance_loss", "hinge_embedding_loss",
           "multilabel_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss"]


def _triplet(anchor, positive, negative, dist, margin, swap, reduction):
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")
    if margin <= 0:
        raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got {margin} instead")
    d_pos, d_neg = dist(anchor, positive), dist(anchor, negative)
    if swap:
        d_neg = d_neg.minimum(dist(positive, negative))
    return _reduce((margin + d_pos - d_neg).clamp(min=0), reduction)


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2, eps: float = 1e-6,
                        swap: bool = False, size_average=None, reduce=None, reduction: str = "mean"):
    """max(d(a, p) - d(a, n) + margin, 0) with d = ||x - y + eps||_p; swap uses min(d(a, n), d(p, n)).

    Shape: (N, D) or (D,) for each of anchor, positive, negative.
    """
    if anchor.ndim not in (1, 2):
        raise RuntimeError(f"triplet_margin_loss: expected 1D or 2D inputs, got {anchor.ndim}D")
    return _triplet(anchor, positive, negative, lambda a, b: pairwise_distance(a, b, p, eps), margin, swap,
                    reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean"):
    """The triplet loss with any ``distance_function(x, y) -> (N,)`` (default pairwise_distance)."""
    return _triplet(anchor, positive, negative, distance_function or pairwise_distance, margin, swap, reduction)


def hinge_embedding_loss(input, target, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean"):
    """x where y = 1, max(0, margin - x) where y = -1 (both terms where y is neither, as PyTorch)."""
    margin_term = where(target != 1, (margin - input).clamp(min=0), 0.0)
    self_term = where(target != -1, input, 0.0)
    return _reduce(margin_term + self_term, reduction)


def _class_rows(input, target, what):
    if input.ndim not in (1, 2) or target.ndim != input.ndim:
        raise RuntimeError(f"{what}: inconsistent input size {list(input.shape)} and target size "
                           f"{list(target.shape)}; expected (C,) or (N, C) input with a matching target")
    if target.dtype.is_floating_point:
        raise RuntimeError(f"{what}: expected target of scalar type Long but found {target.dtype}")
    return (input.unsqueeze(0), target.unsqueeze(0), True) if input.ndim == 1 else (input, target, False)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """sum over targets j and non-targets i of max(0, 1 - (x[y_j] - x[i])) / C.

    target (N, C) int64 holds each row's class indices, ended by the first -1 (PyTorch's format).
    The target layout is read on the host to build the masks.
    """
    x, t, unbatched = _class_rows(input, target, "multilabel_margin_loss")
    if tuple(t.shape) != tuple(x.shape):
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}")
    N, C = x.shape
    tn = t.detach().cpu().numpy()
    valid = np.cumprod(tn != -1, axis=1).astype(bool)                         # (N, J): before the first -1
    if ((tn < -1) | (tn >= C))[valid].any() or (tn < -1).any():
        raise RuntimeError(f"multilabel_margin_loss: target values must lie in [-1, {C}), got {tn.tolist()}")
    idx = np.where(valid, tn, 0)
    is_target = np.zeros((N, C), bool)
    is_target[np.nonzero(valid)[0], tn[valid]] = True
    dev = x.device
    x_t = x.gather(1, _tensor(idx, device=dev))                                  # (N, J)
    hinge = (1 - x_t.unsqueeze(2) + x.unsqueeze(1)).clamp(min=0)                # (N, J, C)
    mask = _tensor((valid[:, :, None] & ~is_target[:, None, :]).astype(np.float64), dtype=x.dtype, device=dev)
    loss = (hinge * mask).sum((1, 2)) / C
    loss = loss.squeeze(0) if unbatched else loss
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
    """-mean over classes of y log sigmoid(x) + (1 - y) log sigmoid(-x) (times ``weight``), per sample."""
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.sum(-1) / input.shape[-1]
    return _reduce(loss, reduction)


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None, size_average=None, reduce=None,
                      reduction: str = "mean"):
    """sum over i != y of max(0, margin - x[y] + x[i])^p / C (times weight[y]); p is 1 or 2."""
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if input.ndim not in (1, 2):
        raise ValueError(f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
                         f"{list(input.shape)}")
    if target.dtype.is_floating_point:
        raise RuntimeError(f"multi_margin_loss: expected target of scalar type Long but found {target.dtype}")
    unbatched = input.ndim == 1
    x, t = (input.unsqueeze(0), target.reshape(1)) if unbatched else (input, target)
    N, C = x.shape
    if tuple(t.shape) != (N,):
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}")
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != C):
        raise ValueError("weight must be one-dimensional with one entry per class")
    if t.device.type == "cpu" and t.numel():
        bad = (t._data < 0) | (t._data >= C)
        if bad.any():
            raise IndexError(f"Target {int(t._data[bad][0])} is out of bounds.")
    x_y = x.gather(1, t.unsqueeze(1))                                            # (N, 1)
    h = (margin - x_y + x).clamp(min=0)
    if p == 2:
        h = h * h
    if weight is not None:
        h = h * weight[t].unsqueeze(1)
    not_y = (arange(C, device=x.device).unsqueeze(0) != t.unsqueeze(1))         # (N, C)
    loss = where(not_y, h, 0.0).sum(1) / C
    loss = loss.squeeze(0) if unbatched else loss
    return _reduce(loss, reduction)
