"""DCGAN (Radford et al., 2015) on Fashion-MNIST, 28x28 grey images.

    python examples/dcgan.py                          # ~ a few minutes on a laptop CPU
    python examples/dcgan.py --steps 3000 --width 64 --device cuda

Generator: z (B, nz, 1, 1) -> ConvTranspose2d + BatchNorm + ReLU up to (B, 1, 28, 28), tanh.
Discriminator: Conv2d + LeakyReLU(0.2) (+ BatchNorm) down to one logit per image. Both train
with BCEWithLogitsLoss and Adam(lr=2e-4, betas=(0.5, 0.999)), the paper's settings. Saves a
PNG grid of samples from a fixed noise batch (blaze.data.utils.save_image).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import blaze  # noqa: E402
from tqdm import tqdm  # noqa: E402
from blaze import nn  # noqa: E402
from blaze.data import DataLoader, RandomSampler  # noqa: E402
from blaze.data import transforms as T  # noqa: E402
from blaze.data.datasets import FashionMNIST  # noqa: E402
from blaze.data.utils import save_image  # noqa: E402


class Generator(nn.Module):
    def __init__(self, nz: int = 64, w: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, 4 * w, 7, 1, 0, bias=False),    # (B, 4w, 7, 7)
            nn.BatchNorm2d(4 * w), nn.ReLU(True),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False),  # (B, 2w, 14, 14)
            nn.BatchNorm2d(2 * w), nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, 1, 4, 2, 1, bias=False),      # (B, 1, 28, 28)
            nn.Tanh())

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, w: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1, bias=False),                   # (B, w, 14, 14)
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False),               # (B, 2w, 7, 7)
            nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 1, 7, 1, 0, bias=False),               # (B, 1, 1, 1): one logit
            nn.Flatten())                                           # (B, 1)

    def forward(self, x):
        return self.net(x)


def weights_init(m):
    """The paper's init: conv weights ~ N(0, 0.02), BatchNorm gamma ~ N(1, 0.02), beta = 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def main(argv=None) -> tuple[float, float]:
    ap = argparse.ArgumentParser(description="DCGAN on Fashion-MNIST")
    ap.add_argument("--data", type=Path, default=None,
                    help="directory with the full Fashion-MNIST IDX files (default: the 10,000-image subset "
                         "bundled with blaze)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--nz", type=int, default=64, help="latent size")
    ap.add_argument("--width", type=int, default=32, help="channels of the first D / last G layer")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("dcgan_samples.png"), help="PNG grid of 64 samples")
    args = ap.parse_args(argv)

    blaze.manual_seed(args.seed)
    tf = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])  # [0, 1] -> [-1, 1], tanh's range
    root = args.data
    if root is not None and not root.is_dir():
        raise SystemExit(f"--data {root}: no such directory (leave --data out to use the subset bundled with blaze)")
    ds = FashionMNIST(root, train=True, transform=tf)
    print(f"data: {len(ds):,} Fashion-MNIST training images from {root or 'the bundled subset'}")
    sampler = RandomSampler(ds, replacement=True, num_samples=args.steps * args.batch_size)
    loader = DataLoader(ds, batch_size=args.batch_size, sampler=sampler, drop_last=True)

    G, D = Generator(args.nz, args.width).to(args.device), Discriminator(args.width).to(args.device)
    G.apply(weights_init)
    D.apply(weights_init)
    opt_g = blaze.optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = blaze.optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    fixed_z = blaze.randn(64, args.nz, 1, 1, device=args.device)

    t0 = time.perf_counter()
    bar = tqdm(loader, desc="train", disable=None)  # silent when stderr is not a terminal
    for real, _ in bar:
        real = real.to(args.device)
        b = real.shape[0]
        ones, zeros = blaze.ones(b, 1, device=args.device), blaze.zeros(b, 1, device=args.device)
        # D: maximise log D(x) + log(1 - D(G(z))); G's output is detached so G gets no gradient here
        fake = G(blaze.randn(b, args.nz, 1, 1, device=args.device))
        loss_d = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        # G: the non-saturating loss, maximise log D(G(z))
        loss_g = bce(D(fake), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        bar.set_postfix(loss_d=float(loss_d), loss_g=float(loss_g))
    train_s = time.perf_counter() - t0
    G.eval()
    with blaze.no_grad():
        samples = G(fixed_z).cpu()
    save_image(samples, args.out, nrow=8, normalize=True, value_range=(-1, 1))
    print(f"loss_D {float(loss_d):.4f}  loss_G {float(loss_g):.4f} after {args.steps} steps, {train_s:.0f} s "
          f"training; samples -> {args.out}")
    return float(loss_d), float(loss_g)


if __name__ == "__main__":
    main()
