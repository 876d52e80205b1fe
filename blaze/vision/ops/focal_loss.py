"""Sigmoid focal loss (Lin et al., RetinaNet 2017), torchvision's ``sigmoid_focal_loss``."""
from __future__ import annotations

import blaze
import blaze.nn.functional as F

__all__ = ["sigmoid_focal_loss"]

_REDUCE = {"none": lambda t: t, "mean": lambda t: t.mean(), "sum": lambda t: t.sum()}


def sigmoid_focal_loss(inputs, targets, alpha: float = 0.25, gamma: float = 2, reduction: str = "none"):
    """Binary cross-entropy scaled by ``(1 - p_t) ** gamma`` so easy examples (p_t near 1) weigh little.

    Args:
        inputs: logits of any shape.
        targets: same shape, 1 for positives and 0 for negatives.
        alpha: weight of positives in [0, 1] (negatives get 1 - alpha); < 0 disables it.
        gamma: focusing exponent; 0 gives (alpha-weighted) BCE.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
    Returns:
        The loss, of inputs' shape for ``"none"``, else a scalar.

        >>> sigmoid_focal_loss(blaze.tensor([0.]), blaze.tensor([1.]))
        tensor([0.0433])
    """
    if reduction not in _REDUCE:
        raise ValueError(f"Invalid Value for arg 'reduction': '{reduction} \n Supported reduction modes: "
                         "'none', 'mean', 'sum'")
    if tuple(inputs.shape) != tuple(targets.shape):
        raise ValueError(f"Target size ({tuple(targets.shape)}) must be the same as input size "
                         f"({tuple(inputs.shape)})")
    p = blaze.sigmoid(inputs)
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _REDUCE[reduction](loss)
