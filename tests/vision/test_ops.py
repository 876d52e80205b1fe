"""blaze.vision.ops on cpu: box geometry, NMS, RoIAlign, RoIPool and the focal loss against direct
NumPy transcriptions of torchvision's definitions, gradients against float64 finite differences."""
import math

import numpy as np
import pytest

import blaze
from blaze.vision import ops
from tests.nn.test_conv_pool import T, check_grad

RNG = np.random.default_rng(18)


def rand_boxes(n, lo=0.0, hi=20.0, min_wh=0.5, max_wh=8.0):
    xy = RNG.uniform(lo, hi, (n, 2))
    return np.concatenate([xy, xy + RNG.uniform(min_wh, max_wh, (n, 2))], axis=1)


def ref_iou(a, b):
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = iw * ih
            out[i, j] = inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)
    return out


def ref_giou(a, b):
    out = ref_iou(a, b)
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            area_c = (max(p[2], q[2]) - min(p[0], q[0])) * (max(p[3], q[3]) - min(p[1], q[1]))
            inter_union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1])
            union = inter_union / (1 + out[i, j])  # iou = I / (A + B - I)  =>  U = (A + B) / (1 + iou)
            out[i, j] -= (area_c - union) / area_c
    return out


def ref_diou_ciou(a, b, eps=1e-7):
    iou = ref_iou(a, b)
    d, c = np.zeros_like(iou), np.zeros_like(iou)
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            diag = (max(p[2], q[2]) - min(p[0], q[0])) ** 2 + (max(p[3], q[3]) - min(p[1], q[1])) ** 2 + eps
            cd = ((p[0] + p[2]) / 2 - (q[0] + q[2]) / 2) ** 2 + ((p[1] + p[3]) / 2 - (q[1] + q[3]) / 2) ** 2
            d[i, j] = iou[i, j] - cd / diag
            v = 4 / math.pi ** 2 * (math.atan((q[2] - q[0]) / (q[3] - q[1])) - math.atan((p[2] - p[0]) / (p[3] - p[1]))) ** 2
            c[i, j] = d[i, j] - v / (1 - iou[i, j] + v + eps) * v
    return d, c


@pytest.mark.parametrize("fn,ref", [
    (ops.box_iou, ref_iou), (ops.generalized_box_iou, ref_giou),
    (ops.distance_box_iou, lambda a, b: ref_diou_ciou(a, b)[0]),
    (ops.complete_box_iou, lambda a, b: ref_diou_ciou(a, b)[1]),
])
def test_pairwise_box_metrics(fn, ref):
    a, b = rand_boxes(5), rand_boxes(7)
    np.testing.assert_allclose(fn(T(a, False), T(b, False)).numpy(), ref(a, b), rtol=1e-10, atol=1e-12)
    assert fn(T(a, False).float(), T(b, False).float()).dtype == blaze.float32
    if fn is ops.complete_box_iou:  # torchvision holds CIoU's alpha constant (computed under no_grad)
        a0, b0 = a[:3].copy(), b[:2].copy()
        alpha = ref_diou_ciou(a0, b0)[0] - ref_diou_ciou(a0, b0)[1]  # alpha * v at a0, b0 ...
        v = _ref_v(a0, b0)
        fn = lambda p, q: ops.distance_box_iou(p, q) - T(alpha / v, False) * _v(p, q)  # noqa: E731
        np.testing.assert_allclose(fn(T(a0, False), T(b0, False)).numpy(), ops.complete_box_iou(
            T(a0, False), T(b0, False)).numpy(), rtol=1e-9)
        ta, tb = T(a0), T(b0)
        ops.complete_box_iou(ta, tb).sum().backward()
        pa, pb = T(a0), T(b0)
        fn(pa, pb).sum().backward()
        np.testing.assert_allclose(ta.grad.numpy(), pa.grad.numpy(), rtol=1e-9)
    check_grad(fn, [a[:3], b[:2]], atol=1e-6)


def _ref_v(a, b):
    wa, ha, wb, hb = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return 4 / math.pi ** 2 * (np.arctan(wb / hb)[None, :] - np.arctan(wa / ha)[:, None]) ** 2


def _v(a, b):
    wa, ha, wb, hb = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return 4 / math.pi ** 2 * (blaze.atan(wb / hb)[None, :] - blaze.atan(wa / ha)[:, None]) ** 2


def test_box_area_and_integer_boxes():
    b = np.array([[0, 0, 3, 2], [1, 1, 4, 5]])
    assert ops.box_area(blaze.tensor(b)).tolist() == [6, 12]
    iou = ops.box_iou(blaze.tensor(b), blaze.tensor(b))
    assert iou.is_floating_point()
    np.testing.assert_allclose(iou.numpy(), ref_iou(b.astype(float), b.astype(float)), rtol=1e-6)


@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_box_convert_round_trip_and_values(fmt):
    a = rand_boxes(6)
    x1, y1, x2, y2 = a.T
    want = {"xywh": np.stack([x1, y1, x2 - x1, y2 - y1], 1),
            "cxcywh": np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1)}[fmt]
    conv = ops.box_convert(T(a, False), "xyxy", fmt)
    np.testing.assert_allclose(conv.numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(ops.box_convert(conv, fmt, "xyxy").numpy(), a, rtol=1e-12)
    np.testing.assert_allclose(ops.box_convert(conv, fmt, fmt).numpy(), want)
    check_grad(lambda t: ops.box_convert(t, fmt, "xyxy"), [want[:2].copy()])
    with pytest.raises(ValueError, match="Unsupported Bounding Box Conversions"):
        ops.box_convert(conv, fmt, "yxyx")


def test_clip_and_remove_small():
    b = blaze.tensor([[-2.0, 1.0, 12.0, 30.0], [3.0, 3.0, 3.5, 9.0], [1.0, 1.0, 4.0, 4.0]])
    assert ops.clip_boxes_to_image(b, (20, 10)).tolist() == [[0, 1, 10, 20], [3, 3, 3.5, 9], [1, 1, 4, 4]]
    assert ops.remove_small_boxes(b, 1.0).tolist() == [0, 2]
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 4\)"):
        ops.box_area(blaze.zeros(3, 5))


def ref_nms(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        if all(ref_iou(boxes[[i]], boxes[[k]])[0, 0] <= thr for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("thr", [0.0, 0.3, 0.7])
def test_nms_matches_greedy_definition(thr):
    boxes, scores = rand_boxes(60), RNG.uniform(size=60)
    got = ops.nms(T(boxes, False), T(scores, False), thr)
    assert got.dtype == blaze.int64
    assert got.tolist() == ref_nms(boxes, scores, thr)
    got32 = ops.nms(T(boxes, False).float(), T(scores, False).float(), thr)
    assert got32.tolist() == ref_nms(boxes, scores, thr)


def test_nms_ties_keep_the_first_and_empty_input():
    b = blaze.tensor([[0.0, 0.0, 1.0, 1.0]] * 3)
    assert ops.nms(b, blaze.tensor([0.5, 0.5, 0.5]), 0.5).tolist() == [0]
    assert ops.nms(blaze.zeros(0, 4), blaze.zeros(0), 0.5).tolist() == []
    with pytest.raises(ValueError, match="same number of elements in dimension 0"):
        ops.nms(b, blaze.zeros(2), 0.5)


def test_batched_nms_only_within_a_class():
    boxes, scores = rand_boxes(40, hi=6.0), RNG.uniform(size=40)
    idxs = RNG.integers(0, 3, 40)
    got = ops.batched_nms(T(boxes, False), T(scores, False), blaze.tensor(idxs), 0.4).tolist()
    want = []
    for c in range(3):
        sel = np.flatnonzero(idxs == c)
        want += [int(sel[k]) for k in ref_nms(boxes[sel], scores[sel], 0.4)]
    assert got == sorted(want, key=lambda i: -scores[i])
    assert ops.batched_nms(blaze.zeros(0, 4), blaze.zeros(0), blaze.zeros(0, dtype=blaze.int64), 0.5).tolist() == []


def ref_roi_align(x, rois, ph, pw, scale, sr, aligned):
    """A scalar transcription of torchvision's roi_align_forward_kernel_impl (CPU)."""
    _, c, h, w = x.shape

    def bilinear(plane, y, xx):
        if y < -1.0 or y > h or xx < -1.0 or xx > w:
            return 0.0
        y, xx = max(y, 0.0), max(xx, 0.0)
        yl, xl = int(y), int(xx)
        if yl >= h - 1:
            yh = yl = h - 1
            y = float(yl)
        else:
            yh = yl + 1
        if xl >= w - 1:
            xh = xl = w - 1
            xx = float(xl)
        else:
            xh = xl + 1
        ly, lx = y - yl, xx - xl
        hy, hx = 1 - ly, 1 - lx
        return hy * hx * plane[yl, xl] + hy * lx * plane[yl, xh] + ly * hx * plane[yh, xl] + ly * lx * plane[yh, xh]

    out = np.zeros((len(rois), c, ph, pw))
    off = 0.5 if aligned else 0.0
    for k, r in enumerate(rois):
        x1, y1, x2, y2 = (v * scale - off for v in r[1:])
        rw, rh = x2 - x1, y2 - y1
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph, rw / pw
        gh = sr if sr > 0 else math.ceil(rh / ph)
        gw = sr if sr > 0 else math.ceil(rw / pw)
        cnt = max(gh * gw, 1)
        for ch in range(c):
            plane = x[int(r[0]), ch]
            for i in range(ph):
                for j in range(pw):
                    s = 0.0
                    for iy in range(gh):
                        yy = y1 + i * bh + (iy + 0.5) * bh / gh
                        for ix in range(gw):
                            s += bilinear(plane, yy, x1 + j * bw + (ix + 0.5) * bw / gw)
                    out[k, ch, i, j] = s / cnt
    return out


def rand_rois(k, n, lo=-3.0, hi=12.0):
    return np.concatenate([RNG.integers(0, n, (k, 1)), rand_boxes(k, lo, hi, 0.0, 9.0)], axis=1)


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sr,scale", [(-1, 1.0), (2, 0.5), (0, 0.75)])
def test_roi_align_matches_torchvision_definition(aligned, sr, scale):
    x = RNG.standard_normal((2, 3, 9, 11))
    rois = rand_rois(7, 2)
    rois[0, 1:] = [2.0, 3.0, 2.2, 3.1]  # smaller than a pixel: the legacy 1x1 clamp matters
    want = ref_roi_align(x, rois, 3, 4, scale, sr, aligned)
    got = ops.roi_align(T(x, False), T(rois, False), (3, 4), scale, sr, aligned)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    check_grad(lambda t: ops.roi_align(t, T(rois[:3], False), (2, 3), scale, sr, aligned), [x[:, :2, :6, :7].copy()])


def test_roi_align_box_list_and_double_backward():
    x = RNG.standard_normal((2, 2, 6, 6))
    b0, b1 = rand_boxes(2, 0, 4, 0.5, 3), rand_boxes(1, 0, 4, 0.5, 3)
    rois = np.concatenate([np.c_[np.zeros(2), b0], np.c_[np.ones(1), b1]])
    got = ops.roi_align(T(x, False), [T(b0, False), T(b1, False)], 2, 1.0, 2, True)
    np.testing.assert_allclose(got.numpy(), ref_roi_align(x, rois, 2, 2, 1.0, 2, True), rtol=1e-10)
    xt = T(x)
    (g,) = blaze.autograd.grad((ops.roi_align(xt, T(rois, False), 2, 1.0, 2, True) ** 2).sum(), xt, create_graph=True)
    (g * g).sum().backward()  # the adjoint's adjoint is the forward again
    assert xt.grad is not None and float(xt.grad.abs().sum()) > 0


def test_roi_align_rejects_bad_rois():
    x = blaze.zeros(2, 1, 4, 4)
    with pytest.raises(IndexError, match=r"batch indices must be integers in \[0, 2\)"):
        ops.roi_align(x, blaze.tensor([[2.0, 0, 0, 1, 1]]), 1)
    with pytest.raises(IndexError, match="batch indices"):
        ops.roi_align(x, blaze.tensor([[-1.0, 0, 0, 1, 1]]), 1)
    with pytest.raises(ValueError, match=r"Tensor\[K, 5\]"):
        ops.roi_align(x, blaze.zeros(3, 4), 1)
    with pytest.raises(ValueError, match=r"List\[Tensor\[L, 4\]\]"):
        ops.roi_align(x, [blaze.zeros(3, 5)], 1)
    with pytest.raises(RuntimeError, match="same type"):
        ops.roi_align(x, blaze.zeros(1, 5, dtype=blaze.float64), 1)


def ref_roi_pool(x, rois, ph, pw, scale):
    _, c, h, w = x.shape
    out = np.zeros((len(rois), c, ph, pw))
    rnd = lambda v: math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)  # noqa: E731  C round()
    for k, r in enumerate(rois):
        sw, sh, ew, eh = (rnd(v * scale) for v in r[1:])
        bh, bw = max(eh - sh + 1, 1) / ph, max(ew - sw + 1, 1) / pw
        for i in range(ph):
            for j in range(pw):
                hs, he = (min(max(v + sh, 0), h) for v in (math.floor(i * bh), math.ceil((i + 1) * bh)))
                ws, we = (min(max(v + sw, 0), w) for v in (math.floor(j * bw), math.ceil((j + 1) * bw)))
                if he > hs and we > ws:
                    out[k, :, i, j] = x[int(r[0]), :, hs:he, ws:we].max(axis=(1, 2))
    return out


def test_roi_pool_values_and_gradient():
    x = RNG.standard_normal((2, 3, 8, 9))
    rois = rand_rois(6, 2, lo=-4.0, hi=10.0)
    rois[0, 1:] = [1.5, 2.5, 3.5, 2.5]  # .5 rounds away from zero, as C's round()
    got = ops.roi_pool(T(x, False), T(rois, False), (3, 2), 0.5)
    np.testing.assert_allclose(got.numpy(), ref_roi_pool(x, rois, 3, 2, 0.5), rtol=1e-12)
    check_grad(lambda t: ops.roi_pool(t, T(rois, False), (3, 2), 0.5), [x])


@pytest.mark.parametrize("alpha,gamma", [(0.25, 2), (-1, 0), (0.5, 1.5)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_sigmoid_focal_loss(alpha, gamma, reduction):
    z, t = RNG.standard_normal((4, 5)), (RNG.uniform(size=(4, 5)) > 0.6).astype(float)
    p = 1 / (1 + np.exp(-z))
    ce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    p_t = p * t + (1 - p) * (1 - t)
    want = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        want = want * (alpha * t + (1 - alpha) * (1 - t))
    want = {"none": want, "mean": want.mean(), "sum": want.sum()}[reduction]
    got = ops.sigmoid_focal_loss(T(z, False), T(t, False), alpha, gamma, reduction)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    check_grad(lambda a: ops.sigmoid_focal_loss(a, T(t, False), alpha, gamma, reduction), [z])


def test_sigmoid_focal_loss_errors():
    with pytest.raises(ValueError, match="Invalid Value for arg 'reduction'"):
        ops.sigmoid_focal_loss(blaze.zeros(2), blaze.zeros(2), reduction="batchmean")
    with pytest.raises(ValueError, match="must be the same as input size"):
        ops.sigmoid_focal_loss(blaze.zeros(2), blaze.zeros(3))
