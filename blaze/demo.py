"""``blaze demo``: train a small CNN on the bundled Fashion-MNIST subset and plot its predictions.

    blaze demo                          # 5 epochs: ~30 s on an idle 2-core CPU, ~88% test accuracy
    blaze demo --device cuda --epochs 10
    blaze demo --data-root ~/data/fashion-mnist   # the full 60,000 / 10,000 images

Everything here is plain PyTorch-style code with ``torch`` spelled ``blaze``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import blaze
from blaze.utils.data import DataLoader, Subset
from blaze.vision import transforms as T
from blaze.vision.datasets import FashionMNIST

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel mean / std
GRID_COLS, GRID_ROWS, SCALE = 8, 4, 3  # the predictions picture: 32 test images drawn 3x


def build_model():
    """Conv(1->16)-ReLU-Pool-Conv(16->32)-ReLU-Pool-Flatten-Linear(1568->64)-ReLU-Linear(64->10)."""
    nn = blaze.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (B, 16, 14, 14)
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 7, 7)
        nn.Flatten(),                                                 # (B, 1568)
        nn.Linear(32 * 7 * 7, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def _datasets(args):
    tf = T.Compose([T.ToTensor(), T.Normalize((MEAN,), (STD,))])
    train = FashionMNIST(args.data_root, train=True, transform=tf)
    test = FashionMNIST(args.data_root, train=False, transform=tf)
    if args.limit_train:
        train = Subset(train, range(min(args.limit_train, len(train))))
    if args.limit_test:
        test = Subset(test, range(min(args.limit_test, len(test))))
    return train, test


def train_epoch(model, loader, optimizer, device, desc):
    """One pass over ``loader``; returns the mean training loss."""
    from tqdm import tqdm

    F = blaze.nn.functional
    model.train()
    total, count = 0.0, 0
    bar = tqdm(loader, desc=desc, disable=None)  # disable=None: no bar when stderr is not a terminal
    for images, labels in bar:
        images, labels = images.to(device), labels.to(device)
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * labels.shape[0]
        count += labels.shape[0]
        bar.set_postfix(loss=f"{total / count:.4g}")
    return total / max(count, 1)


def evaluate(model, loader, device):
    """Accuracy over ``loader`` and the predicted labels, in order."""
    model.eval()
    preds = []
    correct = 0
    with blaze.no_grad():
        for images, labels in loader:
            pred = model(images.to(device)).argmax(dim=1).cpu().numpy()
            preds.append(pred)
            correct += int((pred == labels.numpy()).sum())
    preds = np.concatenate(preds)
    return correct / len(preds), preds


def draw_predictions(images, preds, path):
    """A grid of test images, each captioned with its predicted class (green right, red wrong).

    ``images`` is the test set without transforms: items ``(PIL image, label)``.
    """
    from PIL import Image, ImageDraw

    cell_w, img_h, text_h = 28 * SCALE + 40, 28 * SCALE, 20  # width leaves room for "Ankle boot"
    canvas = Image.new("RGB", (GRID_COLS * cell_w, GRID_ROWS * (img_h + text_h)), "white")
    draw = ImageDraw.Draw(canvas)
    for k in range(min(GRID_COLS * GRID_ROWS, len(preds))):
        img, target = images[k]
        r, c = divmod(k, GRID_COLS)
        x0, y0 = c * cell_w, r * (img_h + text_h)
        canvas.paste(img.resize((img_h, img_h), Image.NEAREST).convert("RGB"), (x0 + 20, y0 + 2))
        colour = (0, 130, 0) if int(preds[k]) == target else (200, 0, 0)
        draw.text((x0 + 4, y0 + img_h + 5), images.classes[int(preds[k])], fill=colour)
    canvas.save(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="blaze demo", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--data-root", default=None, help="directory with the full Fashion-MNIST IDX files "
                                                     "(default: the subset bundled with blaze)")
    p.add_argument("--out", default="predictions.png", help="where to write the predictions picture")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--limit-train", type=int, default=None, help="use only the first N training images")
    p.add_argument("--limit-test", type=int, default=None, help="use only the first N test images")
    p.add_argument("--export", default=None, metavar="MODEL.onnx",
                   help="also write the trained model as ONNX (input 'image' (batch, 1, 28, 28), output 'logits'; "
                        "needs pip install 'blaze[onnx]')")
    args = p.parse_args(argv)

    if args.device == "cuda" and not blaze.cuda.is_available():
        p.error("--device cuda: no CUDA GPU is available (blaze.cuda.is_available() is False)")
    blaze.manual_seed(args.seed)
    train_set, test_set = _datasets(args)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, num_workers=args.num_workers)
    test_loader = DataLoader(test_set, batch_size=500)
    print(f"Fashion-MNIST: {len(train_set)} training and {len(test_set)} test images; device {args.device}")

    model = build_model().to(args.device)
    optimizer = blaze.optim.Adam(model.parameters(), lr=args.lr)
    t0 = time.monotonic()
    for epoch in range(1, args.epochs + 1):
        train_epoch(model, train_loader, optimizer, args.device, desc=f"epoch {epoch}/{args.epochs}")
    acc, preds = evaluate(model, test_loader, args.device)
    print(f"test accuracy: {acc:.2%} ({len(preds)} images, trained in {time.monotonic() - t0:.0f} s)")
    draw_predictions(FashionMNIST(args.data_root, train=False), preds, args.out)
    print(f"wrote {args.out}")
    if args.export:
        blaze.onnx.export(model.cpu(), blaze.zeros(1, 1, 28, 28), args.export, input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
        print(f"wrote {args.export} (ONNX, dynamic batch)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
