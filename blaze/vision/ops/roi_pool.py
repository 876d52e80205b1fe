"""RoIPool (Girshick, Fast R-CNN 2015), torchvision's ``roi_pool``: max over rounded bins of each box."""
from __future__ import annotations

from blaze.autograd.function import Function
from blaze.nn.modules.module import Module
from blaze.ops._util import make

from .roi_align import _pair, to_rois

__all__ = ["roi_pool", "RoIPool"]


class _RoIPool(Function):
    """Forward keeps each output's argmax; the backward adds the gradient there (overlapping bins add)."""
    _internal = True

    @staticmethod
    def forward(ctx, x, rois, output_size, spatial_scale):
        be = x._device.backend
        out, arg = be.roi_pool(be.contiguous(x._data), rois._data, output_size, float(spatial_scale))
        ctx.rois, ctx.arg, ctx.in_shape = rois._data, arg, tuple(x.shape)
        return make(out, x._device, x._dtype)

    @staticmethod
    def backward(ctx, g):
        be = g._device.backend
        dx = be.roi_pool_backward(be.contiguous(g._data), ctx.rois, ctx.arg, ctx.in_shape)
        return make(dx, g._device, g._dtype), None, None, None


def roi_pool(input, boxes, output_size, spatial_scale: float = 1.0):
    """RoIPool: box corners scaled and rounded, each box split into ``output_size`` bins, max per bin.

    Args:
        input: (N, C, H, W) feature map.
        boxes: (K, 5) Tensor of (batch index, x1, y1, x2, y2), or a list of (L_i, 4) xyxy Tensors.
        output_size: (PH, PW) or an int.
        spatial_scale: multiplies box coordinates.
    Returns:
        (K, C, PH, PW) Tensor; an empty bin (outside the image) is 0.
    """
    rois = to_rois("roi_pool", input, boxes)
    return _RoIPool.apply(input, rois, _pair(output_size), spatial_scale)


class RoIPool(Module):
    """Module form of :func:`roi_pool`."""

    def __init__(self, output_size, spatial_scale: float):
        super().__init__()
        self.output_size, self.spatial_scale = output_size, spatial_scale

    def forward(self, input, rois):
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"
