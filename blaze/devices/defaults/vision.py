"""Default detection primitives (``vision`` group): the NumPy reference run on host copies.

NMS's greedy pass and RoI sampling are gathers with data-dependent addresses that the core tier's
ops would express only as per-RoI Python loops; a device without its own versions downloads the
arrays (core ``to_numpy``), runs ``devices/cpu/vision.py`` and uploads the result (``from_numpy``).
"""
from __future__ import annotations


def _ref():
    from ..cpu.vision import NumpyVisionPrimitives
    return NumpyVisionPrimitives()


class VisionDefaults:
    def nms_sorted(self, boxes, iou_threshold):
        return self.from_numpy(_ref().nms_sorted(self.to_numpy(boxes), iou_threshold))

    def roi_align(self, x, rois, output_size, spatial_scale, sampling_ratio, aligned):
        return self.from_numpy(_ref().roi_align(self.to_numpy(x), self.to_numpy(rois), output_size, spatial_scale,
                                                sampling_ratio, aligned))

    def roi_align_backward(self, grad, rois, input_shape, spatial_scale, sampling_ratio, aligned):
        return self.from_numpy(_ref().roi_align_backward(self.to_numpy(grad), self.to_numpy(rois), input_shape,
                                                         spatial_scale, sampling_ratio, aligned))

    def roi_pool(self, x, rois, output_size, spatial_scale):
        out, arg = _ref().roi_pool(self.to_numpy(x), self.to_numpy(rois), output_size, spatial_scale)
        return self.from_numpy(out), self.from_numpy(arg)

    def roi_pool_backward(self, grad, rois, argmax, input_shape):
        return self.from_numpy(_ref().roi_pool_backward(self.to_numpy(grad), self.to_numpy(rois),
                                                        self.to_numpy(argmax), input_shape))
