"""Transfer learning: fine-tune a ResNet-18 on a small image folder built from the bundled Fashion-MNIST.

    python examples/finetune_resnet.py                                    # from scratch: 74% in ~6 min (2 CPUs)
    python examples/finetune_resnet.py --checkpoint resnet18-f37072fd.pth --freeze
    python examples/finetune_resnet.py --data my_images/                  # your own train/ and test/ folders

The folder has ImageFolder's layout (``train/<class>/*.png``, ``test/<class>/*.png``); by default it
is written once into a temporary directory from the Fashion-MNIST subset shipped with blaze, so
nothing is downloaded. ``--checkpoint`` takes a ResNet-18 state dict, e.g. torchvision's ImageNet
file (``blaze.vision.models.ResNet18_Weights.IMAGENET1K_V1.url``) or one saved by blaze; the
1000-way ``fc`` is then replaced by a fresh head for the dataset's classes.

The four transfer-learning moves, each a flag:
    --freeze            backbone.requires_grad_(False): only the new head trains
    --lr-backbone/-head per-group learning rates (a pretrained backbone moves 10x slower by default)
    --bn-eval           BatchNorm layers stay in eval mode: the checkpoint's running statistics are
                        kept (on by default with --checkpoint; batches of 32 would overwrite them)
Reports test accuracy and wall time.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import blaze  # noqa: E402
from blaze import nn  # noqa: E402
from blaze.data import DataLoader  # noqa: E402
from blaze.vision import transforms as T  # noqa: E402
from blaze.vision.datasets import FashionMNIST, ImageFolder  # noqa: E402
from blaze.vision.models import resnet18  # noqa: E402

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def build_image_folder(root: Path, classes: int, train_per_class: int, test_per_class: int) -> Path:
    """Write the first N images of each class as PNGs into root/train/<class>/ and root/test/<class>/."""
    from PIL import Image
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        ds = FashionMNIST(root=None, train=split == "train")  # the subset bundled with blaze
        done = {c: 0 for c in range(classes)}
        for i, label in enumerate(ds.targets.tolist()):
            if label < classes and done[label] < per_class:
                folder = root / split / ds.classes[label].replace("/", "-")
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(ds.data[i].numpy()).save(folder / f"{i:05d}.png")
                done[label] += 1
            if all(n == per_class for n in done.values()):
                break
    return root


def make_model(num_classes: int, checkpoint: str | None) -> nn.Module:
    model = resnet18()
    if checkpoint:
        model.load_state_dict(blaze.load(checkpoint, map_location="cpu"))
    model.fc = nn.Linear(model.fc.in_features, num_classes)  # the new head: always trained from scratch
    return model


def param_groups(model, freeze: bool, lr_backbone: float, lr_head: float) -> list[dict]:
    head = list(model.fc.parameters())
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    if freeze:
        for p in backbone:
            p.requires_grad_(False)
        return [{"params": head, "lr": lr_head}]
    return [{"params": backbone, "lr": lr_backbone}, {"params": head, "lr": lr_head}]


def set_train_mode(model, bn_eval: bool) -> None:
    model.train()
    if bn_eval:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def evaluate(model, loader, device) -> float:
    model.eval()
    correct = total = 0
    with blaze.no_grad():
        for x, y in loader:
            pred = model(x.to(device)).argmax(1).cpu()
            correct += int((pred == y).sum())
            total += len(y)
    return correct / max(total, 1)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", help="a ResNet-18 state dict (.pth/.pt from torchvision or blaze)")
    p.add_argument("--data", help="a folder with train/ and test/ in ImageFolder layout (default: built)")
    p.add_argument("--classes", type=int, default=10, help="Fashion-MNIST classes in the built folder")
    p.add_argument("--train-per-class", type=int, default=100)
    p.add_argument("--test-per-class", type=int, default=50)
    p.add_argument("--size", type=int, default=32, help="images are resized to size x size")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr-backbone", type=float, default=None,
                   help="default 0.01 from scratch, 0.001 from a checkpoint (pretrained features move slowly)")
    p.add_argument("--lr-head", type=float, default=0.01)
    p.add_argument("--freeze", action="store_true", help="train only the new head")
    p.add_argument("--bn-eval", action=argparse.BooleanOptionalAction, default=None,
                   help="keep BatchNorm in eval mode (default: on with --checkpoint)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    bn_eval = bool(args.checkpoint) if args.bn_eval is None else args.bn_eval
    lr_backbone = args.lr_backbone if args.lr_backbone is not None else 0.001 if args.checkpoint else 0.01
    blaze.manual_seed(args.seed)
    start = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="finetune-") as tmp:
        data = Path(args.data) if args.data else build_image_folder(Path(tmp), args.classes, args.train_per_class,
                                                                     args.test_per_class)
        for split in ("train", "test"):
            if not (data / split).is_dir():
                raise SystemExit(f"{data / split} is not a folder; --data needs train/ and test/ inside")
        tf = T.Compose([T.Resize((args.size, args.size)), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
        train_ds, test_ds = ImageFolder(data / "train", transform=tf), ImageFolder(data / "test", transform=tf)
        train = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, drop_last=True)
        test = DataLoader(test_ds, batch_size=128)

        model = make_model(len(train_ds.classes), args.checkpoint).to(args.device)
        groups = param_groups(model, args.freeze, lr_backbone, args.lr_head)
        opt = blaze.optim.SGD(groups, momentum=0.9, weight_decay=5e-4)
        trainable = sum(p.numel() for g in groups for p in g["params"])
        print(f"{len(train_ds)} train / {len(test_ds)} test images, {len(train_ds.classes)} classes; "
              f"training {trainable:,} of {sum(p.numel() for p in model.parameters()):,} parameters "
              f"(checkpoint: {args.checkpoint or 'none'}, freeze: {args.freeze}, bn_eval: {bn_eval})")
        steps, loss, acc = 0, float("nan"), float("nan")
        for epoch in range(args.epochs):
            set_train_mode(model, bn_eval)
            for x, y in train:
                out = model(x.to(args.device))
                loss_t = nn.functional.cross_entropy(out, y.to(args.device))
                opt.zero_grad()
                loss_t.backward()
                opt.step()
                loss, steps = float(loss_t), steps + 1
                if args.max_steps is not None and steps >= args.max_steps:
                    break
            acc = evaluate(model, test, args.device)
            print(f"epoch {epoch + 1}: step {steps}, train loss {loss:.3f}, test accuracy {acc:.3f}")
            if args.max_steps is not None and steps >= args.max_steps:
                break
    wall = time.perf_counter() - start
    print(f"test accuracy {acc:.3f} (chance {1 / len(train_ds.classes):.3f}) after {steps} steps in {wall:.1f} s")
    return {"accuracy": acc, "loss": loss, "steps": steps, "wall_s": wall, "model": model}


if __name__ == "__main__":
    main()
