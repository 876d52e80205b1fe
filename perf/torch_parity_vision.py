"""blaze.vision.ops vs torchvision.ops (values, input gradients, cpu time), in the torch venv:

    PYTHONPATH=$PWD /work/torchvenv/bin/python perf/torch_parity_vision.py [--filter roi]

torchvision's compiled ops (``nms``, ``roi_align``, ``roi_pool``) cannot load in that venv, so:
``roi_align`` is compared with its pure-Python path ``torchvision.ops.roi_align._roi_align`` on RoIs
inside the image (that path skips the C++ kernel's "sample beyond [-1, H] reads 0" rule and its
clamp at the last pixel, so RoIs crossing the border differ; the script prints by how much),
``nms`` with a NumPy transcription of torchvision's CPU kernel (csrc/ops/cpu/nms_kernel.cpp), and
``roi_pool`` is not compared (tests/vision/test_ops.py checks it against a transcription).
Exits 1 on a mismatch.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

# torchvision wraps _roi_align in torch.compile(dynamic=True); compiling each call took minutes on
# 2 shared cores, eager mode is what is compared
os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision.ops as tvo  # noqa: E402
from torchvision.ops.roi_align import _roi_align  # noqa: E402

import blaze  # noqa: E402
from blaze.vision import ops as bvo  # noqa: E402

R = np.random.default_rng(18)
FAILS = []


def boxes(n, hi=40.0, lo_wh=1.0, hi_wh=15.0):
    xy = R.uniform(0, hi, (n, 2))
    return np.concatenate([xy, xy + R.uniform(lo_wh, hi_wh, (n, 2))], 1)


def report(name, diff, tol=1e-9, note=""):
    ok = diff <= tol
    if not ok:
        FAILS.append(name)
    print(f"{name:44s} max|diff| {diff:9.2e}  {'ok' if ok else 'MISMATCH'} {note}")


def both(fn_b, fn_t, arrays, grad=True):
    """Max |diff| of outputs and of input gradients of sum(out * w)."""
    bt = [blaze.tensor(a, requires_grad=grad) for a in arrays]
    tt = [torch.tensor(a, requires_grad=grad) for a in arrays]
    ob, ot = fn_b(*bt), fn_t(*tt)
    d = float(np.abs(ob.detach().numpy() - ot.detach().numpy()).max()) if ot.numel() else 0.0
    if not grad:
        return d, 0.0
    w = R.standard_normal(tuple(ot.shape))
    (ob * blaze.tensor(w)).sum().backward()
    (ot * torch.tensor(w)).sum().backward()
    gd = max(float(np.abs(b.grad.numpy() - t.grad.numpy()).max()) for b, t in zip(bt, tt))
    return d, gd


def tv_nms_cpu(b, s, thr):
    """torchvision's nms_kernel_impl (CPU), line for line over NumPy arrays."""
    x1, y1, x2, y2 = b.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-s, kind="stable")
    suppressed = np.zeros(len(b), bool)
    keep = []
    for _i, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        for j in order[_i + 1:]:
            if suppressed[j]:
                continue
            w = max(0.0, min(x2[i], x2[j]) - max(x1[i], x1[j]))
            h = max(0.0, min(y2[i], y2[j]) - max(y1[i], y1[j]))
            inter = w * h
            if inter / (areas[i] + areas[j] - inter) > thr:
                suppressed[j] = True
    return keep


def timed(fn, reps=5):
    fn()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return float(np.median(t)) * 1e3


def case_boxes():
    a, b = boxes(30), boxes(20)
    for name in ("box_iou", "generalized_box_iou", "distance_box_iou", "complete_box_iou"):
        d, g = both(getattr(bvo, name), getattr(tvo, name), [a, b])
        report(f"{name} (30x20, float64)", max(d, g), note=f"(out {d:.1e}, grad {g:.1e})")
    for fmt in ("xywh", "cxcywh"):
        d, g = both(lambda t: bvo.box_convert(t, "xyxy", fmt), lambda t: tvo.box_convert(t, "xyxy", fmt), [a])
        report(f"box_convert xyxy->{fmt}", max(d, g))
    d, g = both(bvo.box_area, tvo.box_area, [a])
    report("box_area", max(d, g))
    d, _ = both(lambda t: bvo.clip_boxes_to_image(t, (30, 25)), lambda t: tvo.clip_boxes_to_image(t, (30, 25)), [a],
                grad=False)
    report("clip_boxes_to_image", d)
    same = bvo.remove_small_boxes(blaze.tensor(a), 5.0).tolist() == tvo.remove_small_boxes(torch.tensor(a), 5.0).tolist()
    report("remove_small_boxes", 0.0 if same else 1.0)


def case_focal():
    z, t = R.standard_normal((64, 10)), (R.uniform(size=(64, 10)) > 0.8).astype(float)
    for red in ("none", "mean", "sum"):
        d, g = both(lambda x: bvo.sigmoid_focal_loss(x, blaze.tensor(t), reduction=red),
                    lambda x: tvo.sigmoid_focal_loss(x, torch.tensor(t), reduction=red), [z])
        report(f"sigmoid_focal_loss reduction={red}", max(d, g))


def case_roi_align():
    x = R.standard_normal((2, 4, 16, 18))
    xy = R.uniform(0, 8, (16, 2))
    inside = np.concatenate([R.integers(0, 2, (16, 1)), xy, xy + R.uniform(0.5, 7, (16, 2))], 1)
    crossing = inside.copy()
    crossing[:, 3:] += 20.0
    for aligned in (False, True):
        for sr, scale in ((-1, 1.0), (2, 0.5)):
            d, g = both(lambda t: bvo.roi_align(t, blaze.tensor(inside), (5, 5), scale, sr, aligned),
                        lambda t: _roi_align(t, torch.tensor(inside), scale, 5, 5, sr, aligned), [x])
            report(f"roi_align inside aligned={aligned} sr={sr} s={scale}", max(d, g), tol=1e-10)
    d, _ = both(lambda t: bvo.roi_align(t, blaze.tensor(crossing), (5, 5), 1.0, 2, True),
                lambda t: _roi_align(t, torch.tensor(crossing), 1.0, 5, 5, 2, True), [x], grad=False)
    print(f"{'roi_align crossing the border (known)':44s} max|diff| {d:9.2e}  torchvision's Python path "
          "has no out-of-image rule")
    xf, rf = x.astype(np.float32), inside.astype(np.float32)
    rows = np.tile(rf, (8, 1))                                             # 128 RoIs
    tb = timed(lambda: bvo.roi_align(blaze.tensor(xf), blaze.tensor(rows), 7, 1.0, 2, True))
    tt = timed(lambda: _roi_align(torch.tensor(xf), torch.tensor(rows), 1.0, 7, 7, 2, True))
    print(f"{'  time roi_align 128 RoIs 7x7 C=4 fp32 (ms)':44s} blaze {tb:8.2f}  torchvision(py) {tt:8.2f}")


def case_nms():
    for n, thr in ((200, 0.5), (500, 0.3), (500, 0.7)):
        b, s = boxes(n, hi=100.0), R.uniform(size=n)
        got = bvo.nms(blaze.tensor(b), blaze.tensor(s), thr).tolist()
        want = [int(i) for i in tv_nms_cpu(b, s, thr)]
        report(f"nms n={n} thr={thr} (vs kernel transcription)", 0.0 if got == want else 1.0,
               note=f"kept {len(got)}")
    b, s = boxes(500, hi=100.0).astype(np.float32), R.uniform(size=500).astype(np.float32)
    idx = R.integers(0, 5, 500)
    got = bvo.batched_nms(blaze.tensor(b), blaze.tensor(s), blaze.tensor(idx), 0.5).tolist()
    # torchvision's batched_nms on CPU with n < 4000 is the coordinate trick over nms: same composition here
    off = idx[:, None] * (b.max() + 1)
    want = [int(i) for i in tv_nms_cpu(b + off, s, 0.5)]
    report("batched_nms n=500, 5 classes", 0.0 if got == want else 1.0)
    tb = timed(lambda: bvo.nms(blaze.tensor(b), blaze.tensor(s), 0.5))
    tt = timed(lambda: tv_nms_cpu(b, s, 0.5), reps=1)
    print(f"{'  time nms 500 boxes fp32 (ms)':44s} blaze {tb:8.2f}  transcription(py loop) {tt:8.2f}")


CASES = {"boxes": case_boxes, "focal": case_focal, "roi": case_roi_align, "nms": case_nms}


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--filter", default="")
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    for name, fn in CASES.items():
        if args.filter in name:
            fn()
    print("mismatches:", ", ".join(FAILS) if FAILS else "none")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
