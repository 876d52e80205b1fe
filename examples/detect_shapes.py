"""An anchor-free single-stage detector (CenterNet-style, Zhou et al. 2019) on synthetic shapes.

    OPENBLAS_NUM_THREADS=1 python examples/detect_shapes.py   # <= 270 s of training on 2 CPU cores, prints mAP@0.5
    python examples/detect_shapes.py --steps 3000 --device cuda

Images: 64x64 noise with 1-4 circles, squares and triangles (Pillow), each 10-28 px, random colours.
Model: a 4-conv backbone down to stride 4 (16x16 cells) and a head predicting, per cell, one
centre-ness logit per class, the box size (w, h) / 64 and the centre's sub-cell offset.
Training: sigmoid focal loss (blaze.vision.ops) on the centre cells, L1 on size and offset there.
Decoding: every cell that is a 3x3 local maximum with score > 0.05 becomes a box, then per-class
NMS (batched_nms) keeps at most 20. Scored with VOC-style mAP@0.5 (all-point interpolated AP).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import blaze  # noqa: E402
import blaze.nn.functional as F  # noqa: E402
from blaze import nn  # noqa: E402
from blaze.vision.ops import batched_nms, box_iou, sigmoid_focal_loss  # noqa: E402

CLASSES = ("circle", "square", "triangle")
STRIDE = 4


# ------------------------------------------------------------------------------------------- data
def render(rng: np.random.Generator, size: int = 64):
    """(image (3, size, size) float32 in [0, 1], boxes (n, 4) xyxy float32, labels (n,) int64)."""
    noise = (rng.uniform(0, 0.35, (size, size, 3)) * 255).astype(np.uint8)
    img = Image.fromarray(noise, "RGB")
    draw = ImageDraw.Draw(img)
    boxes, labels = [], []
    for _ in range(rng.integers(1, 5)):
        s = int(rng.integers(10, 29))
        x0, y0 = (int(v) for v in rng.integers(0, size - s, 2))
        if any(_overlap((x0, y0, x0 + s, y0 + s), b) > 0.3 for b in boxes):
            continue  # heavily overlapping shapes would hide each other
        cls = int(rng.integers(0, 3))
        color = tuple(int(c) for c in rng.integers(120, 256, 3))
        if cls == 0:
            draw.ellipse((x0, y0, x0 + s - 1, y0 + s - 1), fill=color)
        elif cls == 1:
            draw.rectangle((x0, y0, x0 + s - 1, y0 + s - 1), fill=color)
        else:
            draw.polygon([(x0 + s / 2, y0), (x0, y0 + s - 1), (x0 + s - 1, y0 + s - 1)], fill=color)
        boxes.append((x0, y0, x0 + s, y0 + s))
        labels.append(cls)
    image = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0     # (3, H, W)
    return image, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64)


def _overlap(a, b) -> float:
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def targets(boxes, labels, size: int):
    """Per-cell targets of one image: centre-ness (3, G, G), size and offset (4, G, G), mask (1, G, G)."""
    g = size // STRIDE
    heat = np.zeros((len(CLASSES), g, g), np.float32)
    reg = np.zeros((4, g, g), np.float32)
    mask = np.zeros((1, g, g), np.float32)
    for (x1, y1, x2, y2), c in zip(boxes, labels):
        cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
        i, j = min(int(cy), g - 1), min(int(cx), g - 1)
        heat[c, i, j] = 1.0
        reg[:, i, j] = ((x2 - x1) / size, (y2 - y1) / size, cx - j, cy - i)
        mask[0, i, j] = 1.0
    return heat, reg, mask


def batch(rng, n: int, size: int):
    samples = [render(rng, size) for _ in range(n)]
    tg = [targets(b, l, size) for _, b, l in samples]
    images = np.stack([s[0] for s in samples])
    return images, *(np.stack([t[k] for t in tg]) for k in range(3)), samples


# ------------------------------------------------------------------------------------------ model
def conv_bn(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ShapeDetector(nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        self.backbone = nn.Sequential(conv_bn(3, width // 2, 2), conv_bn(width // 2, width, 2),   # (B, w, 16, 16)
                                      conv_bn(width, width, 1), conv_bn(width, width, 1))
        self.heat = nn.Conv2d(width, len(CLASSES), 1)
        self.reg = nn.Conv2d(width, 4, 1)
        # focal-loss prior (RetinaNet): start every cell at p = 0.01 so the 255 negatives of 256 cells
        # do not swamp the first steps
        nn.init.constant_(self.heat.bias, -4.595)

    def forward(self, x):
        f = self.backbone(x)
        return self.heat(f), self.reg(f)                                     # (B, 3, G, G), (B, 4, G, G)


def loss_fn(heat_logits, reg, heat_t, reg_t, mask):
    n = max(float(mask.sum().item()), 1.0)
    focal = sigmoid_focal_loss(heat_logits, heat_t, alpha=0.25, gamma=2.0, reduction="sum") / n
    l1 = ((reg - reg_t).abs() * mask).sum() / n
    return focal + 5.0 * l1


# --------------------------------------------------------------------------------------- decoding
def decode(heat_logits, reg, size: int, thresh: float = 0.05, top: int = 20):
    """Detections of one image: (boxes (k, 4), scores (k,), labels (k,)) as NumPy arrays."""
    p = blaze.sigmoid(heat_logits)                                           # (3, G, G)
    peak = F.max_pool2d(p[None], 3, 1, 1)[0]
    cand = (p == peak) & (p > thresh)
    c, i, j = (t for t in cand.nonzero().unbind(1))
    if c.numel() == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    scores = p[c, i, j]
    w, h, ox, oy = (reg[k, i, j] for k in range(4))
    cx, cy = (j.float() + ox) * STRIDE, (i.float() + oy) * STRIDE
    boxes = blaze.stack([cx - w * size / 2, cy - h * size / 2, cx + w * size / 2, cy + h * size / 2], dim=1)
    keep = batched_nms(boxes, scores, c, 0.5)[:top]
    return boxes[keep].numpy(), scores[keep].numpy(), c[keep].numpy()


# ------------------------------------------------------------------------------------------- mAP
def average_precision(recall, precision) -> float:
    """VOC 2010+ AP: area under the precision envelope (precision made monotone from the right)."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    idx = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[idx + 1] - r[idx]) * p[idx + 1]))


def mean_ap(detections, ground_truth, iou_thresh: float = 0.5, n_classes: int = len(CLASSES)):
    """mAP over classes. detections[i] = (boxes, scores, labels), ground_truth[i] = (boxes, labels).

    Per class, detections of all images are ranked by score; each is a true positive when it overlaps an
    unmatched ground-truth box of its class and image with IoU >= iou_thresh (each box matches once).
    Classes with no ground truth are left out of the mean.
    """
    aps = []
    for c in range(n_classes):
        dets = [(s, img, b) for img, (bx, sc, lb) in enumerate(detections) for b, s, l in zip(bx, sc, lb) if l == c]
        gts = {img: gb[gl == c] for img, (gb, gl) in enumerate(ground_truth)}
        n_gt = sum(len(g) for g in gts.values())
        if n_gt == 0:
            continue
        dets.sort(key=lambda d: -d[0])
        used = {img: np.zeros(len(g), bool) for img, g in gts.items()}
        tp = np.zeros(len(dets))
        for k, (_, img, b) in enumerate(dets):
            g = gts[img]
            if len(g) == 0:
                continue
            ious = box_iou(blaze.tensor(b[None].astype(np.float32)), blaze.tensor(g)).numpy()[0]
            m = int(ious.argmax())
            if ious[m] >= iou_thresh and not used[img][m]:
                used[img][m] = True
                tp[k] = 1
        ctp = np.cumsum(tp)
        recall = ctp / n_gt
        precision = ctp / np.arange(1, len(dets) + 1) if len(dets) else np.zeros(0)
        aps.append(average_precision(recall, precision))
    return float(np.mean(aps)) if aps else 0.0


# ------------------------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=4000, help="at most this many steps (see --time-limit)")
    p.add_argument("--time-limit", type=float, default=270.0, help="stop training after this many seconds")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--eval-images", type=int, default=200)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> float:
    args = parse_args(argv)
    if args.image_size % STRIDE or args.image_size < 32:
        raise SystemExit(f"--image-size must be a multiple of {STRIDE} and >= 32, got {args.image_size}")
    blaze.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    dev = blaze.device(args.device)
    model = ShapeDetector(args.width).to(dev)
    opt = blaze.optim.Adam(model.parameters(), lr=args.lr)
    sched = blaze.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.steps)
    t0 = time.perf_counter()
    step = 0
    model.train()
    while step < args.steps and time.perf_counter() - t0 < args.time_limit:
        images, heat_t, reg_t, mask, _ = batch(rng, args.batch_size, args.image_size)
        heat, reg = model(blaze.tensor(images, device=dev))
        loss = loss_fn(heat, reg, *(blaze.tensor(a, device=dev) for a in (heat_t, reg_t, mask)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        if step % 50 == 0 or step == 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.perf_counter() - t0:6.1f}s", flush=True)
    train_s = time.perf_counter() - t0

    model.eval()
    eval_rng = np.random.default_rng(10_000 + args.seed)  # a fixed held-out set, never trained on
    detections, truth = [], []
    with blaze.no_grad():
        for start in range(0, args.eval_images, 50):
            images, *_, samples = batch(eval_rng, min(50, args.eval_images - start), args.image_size)
            heat, reg = model(blaze.tensor(images, device=dev))
            for k, (_, b, l) in enumerate(samples):
                detections.append(decode(heat[k].cpu(), reg[k].cpu(), args.image_size))
                truth.append((b, l))
    m = mean_ap(detections, truth)
    print(f"{step} steps in {train_s:.1f}s; mAP@0.5 on {len(truth)} held-out images: {m:.3f}")
    return m


if __name__ == "__main__":
    main()
