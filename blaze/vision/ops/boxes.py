"""Box geometry over (N, 4) tensors, composed from Tensor ops (so gradients and both devices come free).

Formats as torchvision: ``xyxy`` (x1, y1, x2, y2), ``xywh`` (x1, y1, w, h), ``cxcywh`` (centre, w, h).
"""
from __future__ import annotations

import math

import blaze

__all__ = ["box_area", "box_convert", "box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou",
           "clip_boxes_to_image", "remove_small_boxes"]


def _check_boxes(name: str, boxes) -> None:
    if not isinstance(boxes, blaze.Tensor):
        raise TypeError(f"{name}: boxes must be a Tensor, got {type(boxes).__name__}")
    if boxes.ndim < 1 or boxes.shape[-1] != 4:
        raise ValueError(f"{name}: boxes must have shape (..., 4), got {tuple(boxes.shape)}")


def _upcast(t):
    """Integer boxes compute areas in int64 and IoUs in float, as torchvision's ``_upcast``."""
    if t.is_floating_point():
        return t if t.dtype in (blaze.float32, blaze.float64) else t.float()
    return t if t.dtype in (blaze.int32, blaze.int64) else t.int()


def box_area(boxes):
    """Area of each xyxy box.

    Shape: boxes (N, 4) -> (N,).
    """
    _check_boxes("box_area", boxes)
    boxes = _upcast(boxes)
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _inter_union(b1, b2):
    area1, area2 = box_area(b1), box_area(b2)
    lt = blaze.maximum(b1[:, None, :2], b2[None, :, :2])  # (N, M, 2)
    rb = blaze.minimum(b1[:, None, 2:], b2[None, :, 2:])  # (N, M, 2)
    wh = _upcast(rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]                        # (N, M)
    return inter, area1[:, None] + area2[None, :] - inter


def box_iou(boxes1, boxes2):
    """Pairwise intersection-over-union of xyxy boxes.

    Shape: boxes1 (N, 4), boxes2 (M, 4) -> (N, M).

        >>> box_iou(blaze.tensor([[0., 0., 2., 2.]]), blaze.tensor([[1., 1., 3., 3.]]))
        tensor([[0.1429]])
    """
    _check_boxes("box_iou", boxes1)
    _check_boxes("box_iou", boxes2)
    inter, union = _inter_union(boxes1, boxes2)
    return inter / union


def _enclosing_wh(b1, b2):
    lt = blaze.minimum(b1[:, None, :2], b2[None, :, :2])
    rb = blaze.maximum(b1[:, None, 2:], b2[None, :, 2:])
    return _upcast(rb - lt).clamp(min=0)                   # (N, M, 2)


def generalized_box_iou(boxes1, boxes2):
    """GIoU (Rezatofighi et al. 2019): IoU - (enclosing area - union) / enclosing area; in [-1, 1].

    Shape: (N, 4), (M, 4) -> (N, M).
    """
    _check_boxes("generalized_box_iou", boxes1)
    _check_boxes("generalized_box_iou", boxes2)
    inter, union = _inter_union(boxes1, boxes2)
    iou = inter / union
    wh = _enclosing_wh(boxes1, boxes2)
    area = wh[..., 0] * wh[..., 1]
    return iou - (area - union) / area


def _diou(boxes1, boxes2, eps):
    iou = box_iou(boxes1, boxes2)
    wh = _enclosing_wh(boxes1, boxes2)
    diag = wh[..., 0] ** 2 + wh[..., 1] ** 2 + eps          # squared diagonal of the enclosing box
    b1, b2 = _upcast(boxes1), _upcast(boxes2)
    c1 = (b1[:, :2] + b1[:, 2:]) / 2                         # (N, 2) centres
    c2 = (b2[:, :2] + b2[:, 2:]) / 2                         # (M, 2)
    d = c1[:, None, :] - c2[None, :, :]                      # (N, M, 2)
    return iou - (d[..., 0] ** 2 + d[..., 1] ** 2) / diag, iou


def distance_box_iou(boxes1, boxes2, eps: float = 1e-7):
    """DIoU (Zheng et al. 2020): IoU minus the squared centre distance over the enclosing diagonal squared.

    Shape: (N, 4), (M, 4) -> (N, M).
    """
    _check_boxes("distance_box_iou", boxes1)
    _check_boxes("distance_box_iou", boxes2)
    return _diou(boxes1, boxes2, eps)[0]


def complete_box_iou(boxes1, boxes2, eps: float = 1e-7):
    """CIoU (Zheng et al. 2020): DIoU minus alpha * v, v the aspect-ratio consistency term.

    Shape: (N, 4), (M, 4) -> (N, M).
    """
    _check_boxes("complete_box_iou", boxes1)
    _check_boxes("complete_box_iou", boxes2)
    diou, iou = _diou(boxes1, boxes2, eps)
    b1, b2 = _upcast(boxes1), _upcast(boxes2)
    w1, h1 = b1[:, 2] - b1[:, 0], b1[:, 3] - b1[:, 1]
    w2, h2 = b2[:, 2] - b2[:, 0], b2[:, 3] - b2[:, 1]
    v = (4 / math.pi ** 2) * (blaze.atan(w2 / h2)[None, :] - blaze.atan(w1 / h1)[:, None]) ** 2
    with blaze.no_grad():                                    # torchvision: alpha is a constant weight
        alpha = v / (1 - iou + v + eps)
    return diou - alpha * v


def _xywh_to_xyxy(b):
    x, y, w, h = b.unbind(-1)
    return blaze.stack([x, y, x + w, y + h], dim=-1)


def _xyxy_to_xywh(b):
    x1, y1, x2, y2 = b.unbind(-1)
    return blaze.stack([x1, y1, x2 - x1, y2 - y1], dim=-1)


def _cxcywh_to_xyxy(b):
    cx, cy, w, h = b.unbind(-1)
    return blaze.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def _xyxy_to_cxcywh(b):
    x1, y1, x2, y2 = b.unbind(-1)
    return blaze.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)


_TO_XYXY = {"xyxy": lambda b: b, "xywh": _xywh_to_xyxy, "cxcywh": _cxcywh_to_xyxy}
_FROM_XYXY = {"xyxy": lambda b: b, "xywh": _xyxy_to_xywh, "cxcywh": _xyxy_to_cxcywh}


def box_convert(boxes, in_fmt: str, out_fmt: str):
    """Convert boxes between ``xyxy``, ``xywh`` and ``cxcywh``.

    Shape: (N, 4) -> (N, 4).

        >>> box_convert(blaze.tensor([[1., 1., 2., 4.]]), "xywh", "xyxy")
        tensor([[1., 1., 3., 5.]])
    """
    for f in (in_fmt, out_fmt):
        if f not in _TO_XYXY:
            raise ValueError("Unsupported Bounding Box Conversions for given in_fmt and out_fmt")
    _check_boxes("box_convert", boxes)
    if in_fmt == out_fmt:
        return boxes.clone()
    return _FROM_XYXY[out_fmt](_TO_XYXY[in_fmt](boxes))


def clip_boxes_to_image(boxes, size):
    """Clip xyxy boxes to an image of ``size = (height, width)``.

    Shape: (..., 4) -> (..., 4).
    """
    _check_boxes("clip_boxes_to_image", boxes)
    height, width = size
    x = boxes[..., 0::2].clamp(min=0, max=width)
    y = boxes[..., 1::2].clamp(min=0, max=height)
    return blaze.stack([x, y], dim=-1).reshape(boxes.shape)    # (..., 2, 2) -> (x1, y1, x2, y2)


def remove_small_boxes(boxes, min_size: float):
    """Indices of the xyxy boxes whose width and height are both >= ``min_size``.

    Shape: (N, 4) -> (K,) int64.
    """
    _check_boxes("remove_small_boxes", boxes)
    ws, hs = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return blaze.where((ws >= min_size) & (hs >= min_size))[0]
