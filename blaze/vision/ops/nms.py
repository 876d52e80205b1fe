"""Non-maximum suppression: sort by score (a core primitive), then the device's ``nms_sorted`` keep mask."""
from __future__ import annotations

import blaze
from blaze.ops._util import make

from .boxes import _check_boxes

__all__ = ["nms", "batched_nms"]


def nms(boxes, scores, iou_threshold: float):
    """Greedy non-maximum suppression (torchvision's): repeatedly keep the highest-scoring box and drop
    every remaining box whose IoU with it is > ``iou_threshold``.

    Args:
        boxes: (N, 4) xyxy boxes (0 <= x1 < x2, 0 <= y1 < y2 for meaningful IoUs).
        scores: (N,) scores.
        iou_threshold: discard overlaps with IoU > this.
    Returns:
        (K,) int64 indices of the kept boxes, by decreasing score.

        >>> nms(blaze.tensor([[0., 0., 2., 2.], [0., 0., 2., 2.1]]), blaze.tensor([0.9, 0.8]), 0.5)
        tensor([0])
    """
    _check_boxes("nms", boxes)
    if boxes.ndim != 2:
        raise ValueError(f"nms: boxes must have shape (N, 4), got {tuple(boxes.shape)}")
    if scores.ndim != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"boxes and scores should have same number of elements in dimension 0, got "
                         f"{boxes.shape[0]} and {scores.shape[0] if scores.ndim else 'a 0-d scores tensor'}")
    if boxes.device != scores.device:
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                           f"{boxes.device} and {scores.device}!")
    if not boxes.is_floating_point():
        raise TypeError(f"nms: boxes must be floating point, got {boxes.dtype}")
    with blaze.no_grad():
        order = blaze.sort(scores.detach(), descending=True, stable=True).indices
        b = boxes.detach()[order]
        if b.dtype not in (blaze.float32, blaze.float64):
            b = b.float()  # half boxes: IoUs in float32 (the kernel's arithmetic)
        be = b._device.backend
        keep = make(be.nms_sorted(be.contiguous(b._data), float(iou_threshold)), b._device, blaze.int8)
        return order[keep.nonzero().reshape(-1)]


def batched_nms(boxes, scores, idxs, iou_threshold: float):
    """NMS within each category ``idxs``: boxes of different categories never suppress each other.

    Boxes are shifted by ``idxs * (max coordinate + 1)`` so that one ``nms`` call sees disjoint
    categories (torchvision's coordinate trick).

    Shape: boxes (N, 4), scores (N,), idxs (N,) -> (K,) int64 indices by decreasing score.
    """
    _check_boxes("batched_nms", boxes)
    if idxs.shape != scores.shape:
        raise ValueError(f"batched_nms: idxs shape {tuple(idxs.shape)} and scores shape {tuple(scores.shape)} differ")
    if boxes.numel() == 0:
        return blaze.empty((0,), dtype=blaze.int64, device=boxes.device)
    with blaze.no_grad():
        b = boxes.detach()
        offsets = idxs.to(b.dtype) * (b.max() + 1)
        return nms(b + offsets[:, None], scores, iou_threshold)
