"""Detection primitives of the cuda backend: NMS and RoIAlign launch Triton kernels; RoIPool is a
counted host round trip (``FALLBACKS["roi_pool"]``; torchvision's detectors use RoIAlign).

Names, arguments and results mirror ``devices/cpu/vision.py``.
"""
from __future__ import annotations

from ...kernels import nms as _nms
from ...kernels import roi_align as _ra
from .nn import _rows


class TritonVisionPrimitives:
    def nms_sorted(self, boxes, iou_threshold: float):
        return _nms.nms_sorted(_rows(boxes), iou_threshold)

    def roi_align(self, x, rois, output_size, spatial_scale, sampling_ratio, aligned):
        return _ra.roi_align(x, _rows(rois), output_size, spatial_scale, sampling_ratio, aligned)

    def roi_align_backward(self, grad, rois, input_shape, spatial_scale, sampling_ratio, aligned):
        dx = _ra.roi_align_backward(grad, _rows(rois), input_shape, spatial_scale, sampling_ratio, aligned)
        return dx if dx.dtype == grad.dtype else self._cast_np(dx, grad.dtype)

    def _cast_np(self, x, np_dtype):
        from ...kernels import elementwise as _ew
        out = x.new(x.shape, np_dtype)
        _ew.copy(x, out)
        return out

    def roi_pool(self, x, rois, output_size, spatial_scale):
        return self._fallback("roi_pool", lambda be, *a: be.roi_pool(*a), x, rois, output_size, spatial_scale)

    def roi_pool_backward(self, grad, rois, argmax, input_shape):
        return self._fallback("roi_pool_backward", lambda be, *a: be.roi_pool_backward(*a), grad, rois, argmax,
                              input_shape)
