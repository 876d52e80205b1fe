"""RoIAlign (He et al., Mask R-CNN 2017), torchvision's ``roi_align``: bilinear samples averaged per bin.

Forward and backward are the device's ``roi_align`` / ``roi_align_backward`` primitives. The op is
linear in its input, so it runs through pooling's linear-map Function: the backward applies the
adjoint, and the gradient of the gradient is the forward again (exact double backward).
"""
from __future__ import annotations

import blaze
from blaze.nn.functional.pooling import _Apply, _LinearMap
from blaze.nn.modules.module import Module

__all__ = ["roi_align", "RoIAlign"]


def _pair(v):
    t = (int(v), int(v)) if isinstance(v, int) else tuple(int(a) for a in v)
    if len(t) != 2 or min(t) <= 0:
        raise ValueError(f"output_size must be a positive int or a pair of positive ints, got {v!r}")
    return t


def to_rois(name: str, input, boxes):
    """(K, 5) RoIs from a (K, 5) Tensor or a list of (L_i, 4) Tensors (one per image), checked against input."""
    if isinstance(boxes, (list, tuple)):
        for b in boxes:
            if not isinstance(b, blaze.Tensor) or b.ndim != 2 or b.shape[1] != 4:
                raise ValueError("The shape of the tensor in the boxes list is not correct as List[Tensor[L, 4]]")
        if len(boxes) > input.shape[0]:
            raise ValueError(f"{name}: {len(boxes)} box lists for a batch of {input.shape[0]} images")
        dt = boxes[0].dtype if boxes else input.dtype
        ids = [blaze.full((b.shape[0], 1), float(i), dtype=dt, device=b.device) for i, b in enumerate(boxes)]
        rois = (blaze.cat([blaze.cat([i, b], dim=1) for i, b in zip(ids, boxes)], dim=0) if boxes
                else blaze.zeros((0, 5), dtype=dt, device=input.device))
    elif isinstance(boxes, blaze.Tensor):
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError("The boxes tensor shape is not correct as Tensor[K, 5]")
        rois = boxes
    else:
        raise ValueError("boxes is expected to be a Tensor[L, 5] or a List[Tensor[K, 4]]")
    if input.ndim != 4:
        raise ValueError(f"{name}: input must be (N, C, H, W), got shape {tuple(input.shape)}")
    if rois.dtype != input.dtype:
        raise RuntimeError(f"Expected tensor for argument #1 'input' to have the same type as tensor for "
                           f"argument #2 'rois'; but type {input.dtype} does not equal {rois.dtype}")
    if rois.device != input.device:
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                           f"{input.device} and {rois.device}!")
    rois = rois.detach().contiguous()
    if rois.shape[0]:
        b = rois[:, 0]
        # batch indices address images: a wrong one would read another tensor's memory (one sync)
        if bool(((b < 0) | (b >= input.shape[0]) | (b != b.floor())).any()):
            raise IndexError(f"{name}: RoI batch indices must be integers in [0, {input.shape[0]}), "
                             f"got values in [{b.min().item()}, {b.max().item()}]")
    return rois


def roi_align(input, boxes, output_size, spatial_scale: float = 1.0, sampling_ratio: int = -1,
              aligned: bool = False):
    """RoIAlign: average ``sampling_ratio``^2 bilinear samples in each of ``output_size`` bins of each box.

    Args:
        input: (N, C, H, W) feature map.
        boxes: (K, 5) Tensor of (batch index, x1, y1, x2, y2), or a list of (L_i, 4) xyxy Tensors.
        output_size: (PH, PW) or an int.
        spatial_scale: multiplies box coordinates (feature stride 16: 1/16).
        sampling_ratio: samples per bin side; <= 0: ceil(bin size) per RoI.
        aligned: shift boxes by -0.5 pixel (pixel centres; the right choice for new models).
    Returns:
        (K, C, PH, PW) Tensor.

        >>> roi_align(blaze.arange(16.).reshape(1, 1, 4, 4), [blaze.tensor([[0., 0., 3., 3.]])], 1)
        tensor([[[[7.5000]]]])
    """
    rois = to_rois("roi_align", input, boxes)
    ph, pw = _pair(output_size)
    in_shape, out_shape = tuple(input.shape), (rois.shape[0], input.shape[1], ph, pw)
    r = rois._data
    args = (float(spatial_scale), int(sampling_ratio), bool(aligned))
    op = _LinearMap(in_shape, out_shape,
                    lambda be, a: be.roi_align(a, r, (ph, pw), *args),
                    lambda be, g: be.roi_align_backward(be.contiguous(g), r, in_shape, *args))
    return _Apply.apply(input, op, False)


class RoIAlign(Module):
    """Module form of :func:`roi_align`."""

    def __init__(self, output_size, spatial_scale: float, sampling_ratio: int, aligned: bool = False):
        super().__init__()
        self.output_size, self.spatial_scale = output_size, spatial_scale
        self.sampling_ratio, self.aligned = sampling_ratio, aligned

    def forward(self, input, rois):
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}")
