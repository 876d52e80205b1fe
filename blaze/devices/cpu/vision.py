"""Detection primitives of the CPU backend: NMS keep mask, RoIAlign, RoIPool (torchvision's CPU kernels).

The NumPy reference each Triton launcher in ``blaze/kernels/nms.py`` / ``roi_align.py`` is tested
against. RoIAlign's bilinear sampling is separable: for one RoI the (PH, PW) output of a (H, W)
plane is ``Ay @ plane @ Ax.T`` with Ay (PH, H) and Ax (PW, W) holding the sample weights averaged
over the sampling grid, so forward and backward are two small GEMMs per RoI instead of
PH*PW*gh*gw gathers, and the backward is exactly the adjoint (``Ay.T @ g @ Ax``).
"""
from __future__ import annotations

import math

import numpy as np


def _acc(dtype) -> np.dtype:
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def iou_rows(box, boxes):
    """IoU of one xyxy box with each row of ``boxes`` (N, 4), in the boxes' dtype (torchvision's order of ops)."""
    xx1 = np.maximum(box[0], boxes[:, 0])
    yy1 = np.maximum(box[1], boxes[:, 1])
    xx2 = np.minimum(box[2], boxes[:, 2])
    yy2 = np.minimum(box[3], boxes[:, 3])
    zero = boxes.dtype.type(0)
    inter = np.maximum(zero, xx2 - xx1) * np.maximum(zero, yy2 - yy1)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):  # degenerate boxes: 0/0 = NaN never suppresses
        return inter / (area + areas - inter)


def _axis_weights(start, bin_size, pooled, grid, size):
    """(pooled, size) bilinear weights along one axis, averaged over ``grid`` samples a bin (torchvision's
    ``bilinear_interpolate``: samples beyond [-1, size] read 0, others clamp to the last pixel)."""
    w = np.zeros((pooled, size), dtype=np.float64)
    p = np.repeat(np.arange(pooled), grid)
    s = np.tile(np.arange(grid), pooled)
    y = start + p * bin_size + (s + 0.5) * bin_size / grid
    ok = (y >= -1.0) & (y <= size)
    y = np.maximum(y, 0.0)
    low = np.floor(y).astype(np.int64)
    last = low >= size - 1
    low = np.where(last, size - 1, low)
    high = np.where(last, size - 1, low + 1)
    y = np.where(last, low, y)
    frac = y - low
    np.add.at(w, (p[ok], low[ok]), (1.0 - frac[ok]) / grid)
    np.add.at(w, (p[ok], high[ok]), frac[ok] / grid)
    return w


def roi_align_weights(roi, height, width, pooled_h, pooled_w, spatial_scale, sampling_ratio, aligned):
    """(Ay (PH, H), Ax (PW, W)) for one RoI row ``(batch, x1, y1, x2, y2)``."""
    off = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (float(v) * spatial_scale - off for v in roi[1:5])
    rw, rh = x2 - x1, y2 - y1
    if not aligned:  # legacy behaviour: malformed RoIs are forced to be 1x1
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    bh, bw = rh / pooled_h, rw / pooled_w
    gh = sampling_ratio if sampling_ratio > 0 else max(math.ceil(rh / pooled_h), 0)
    gw = sampling_ratio if sampling_ratio > 0 else max(math.ceil(rw / pooled_w), 0)
    ay = _axis_weights(y1, bh, pooled_h, gh, height) if gh else np.zeros((pooled_h, height))
    ax = _axis_weights(x1, bw, pooled_w, gw, width) if gw else np.zeros((pooled_w, width))
    return ay, ax


def _round_half_away(v: float) -> int:
    return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))  # C's round(), not banker's


class NumpyVisionPrimitives:
    def nms_sorted(self, boxes, iou_threshold: float):
        """Greedy NMS over (N, 4) xyxy boxes already sorted by descending score; a (N,) int8 keep mask
        (torchvision's CPU kernel: box j is dropped when a kept box before it has IoU > threshold)."""
        b = boxes.astype(_acc(boxes.dtype), copy=False)
        n = b.shape[0]
        removed = np.zeros(n, dtype=bool)
        keep = np.zeros(n, dtype=np.int8)
        thr = b.dtype.type(iou_threshold)
        for i in range(n):
            if removed[i]:
                continue
            keep[i] = 1
            if i + 1 < n:
                removed[i + 1:] |= iou_rows(b[i], b[i + 1:]) > thr
        return keep

    def roi_align(self, x, rois, output_size, spatial_scale, sampling_ratio, aligned):
        """(K, C, PH, PW) RoIAlign of x (N, C, H, W) over rois (K, 5) = (batch, x1, y1, x2, y2)."""
        ph, pw = output_size
        _, c, h, w = x.shape
        acc = _acc(x.dtype)
        out = np.zeros((rois.shape[0], c, ph, pw), dtype=acc)
        for k, roi in enumerate(rois):
            ay, ax = roi_align_weights(roi, h, w, ph, pw, spatial_scale, sampling_ratio, aligned)
            plane = x[int(roi[0])].astype(acc, copy=False)
            out[k] = ay.astype(acc) @ plane @ ax.T.astype(acc)  # (PH, H) @ (C, H, W) @ (W, PW)
        return out.astype(x.dtype, copy=False)

    def roi_align_backward(self, grad, rois, input_shape, spatial_scale, sampling_ratio, aligned):
        """dx (N, C, H, W) of :meth:`roi_align` from grad (K, C, PH, PW): the adjoint, summed over RoIs."""
        _, _, ph, pw = grad.shape
        _, _, h, w = input_shape
        acc = _acc(grad.dtype)
        dx = np.zeros(tuple(input_shape), dtype=acc)
        for k, roi in enumerate(rois):
            ay, ax = roi_align_weights(roi, h, w, ph, pw, spatial_scale, sampling_ratio, aligned)
            dx[int(roi[0])] += ay.T.astype(acc) @ grad[k].astype(acc, copy=False) @ ax.astype(acc)
        return dx.astype(grad.dtype, copy=False)

    def roi_pool(self, x, rois, output_size, spatial_scale):
        """(out (K, C, PH, PW), argmax (K, C, PH, PW) int64 index into a (H*W) plane, -1 for an empty bin)."""
        ph, pw = output_size
        _, c, h, w = x.shape
        k_n = rois.shape[0]
        out = np.zeros((k_n, c, ph, pw), dtype=x.dtype)
        arg = np.full((k_n, c, ph, pw), -1, dtype=np.int64)
        for k, roi in enumerate(rois):
            sw, sh, ew, eh = (_round_half_away(float(v) * spatial_scale) for v in roi[1:5])
            rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
            bh, bw = rh / ph, rw / pw
            plane = x[int(roi[0])]
            for i in range(ph):
                hs = min(max(math.floor(i * bh) + sh, 0), h)
                he = min(max(math.ceil((i + 1) * bh) + sh, 0), h)
                for j in range(pw):
                    ws = min(max(math.floor(j * bw) + sw, 0), w)
                    we = min(max(math.ceil((j + 1) * bw) + sw, 0), w)
                    if he <= hs or we <= ws:
                        continue
                    region = plane[:, hs:he, ws:we].reshape(c, -1)
                    a = region.argmax(axis=1)                     # first maximum, as the strict > in C
                    out[k, :, i, j] = region[np.arange(c), a]
                    arg[k, :, i, j] = (hs + a // (we - ws)) * w + ws + a % (we - ws)
        return out, arg

    def roi_pool_backward(self, grad, rois, argmax, input_shape):
        """dx (N, C, H, W): each output's gradient added at its argmax (bins may overlap)."""
        n, c, h, w = input_shape
        dx = np.zeros((n, c, h * w), dtype=grad.dtype)
        b = np.broadcast_to(rois[:, 0].astype(np.int64)[:, None, None, None], grad.shape)
        ch = np.broadcast_to(np.arange(c)[None, :, None, None], grad.shape)
        ok = argmax >= 0
        np.add.at(dx, (b[ok], ch[ok], argmax[ok]), grad[ok])
        return dx.reshape(n, c, h, w)
