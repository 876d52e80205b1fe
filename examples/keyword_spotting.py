"""Keyword spotting on synthesised audio: MFCCs (blaze.audio) into a small CNN. Nothing is downloaded.

    python examples/keyword_spotting.py                 # ~ a minute on a laptop CPU
    python examples/keyword_spotting.py --save-wav kws  # also write one WAV per keyword (blaze.audio.save)

Each "keyword" is a 0.5 s pattern of tones and chirps at 8 kHz (a rising or falling chirp, two
tones in either order, a warbling tone, three beeps) plus a noise-only class. Every clip gets a
random pitch (x0.85..1.15), onset, loudness and white noise at -5..10 dB SNR, so the classes
overlap in pitch and the noise can mask them. Features: 20 MFCCs (n_fft 256, hop 80, 32 mels) ->
(1, 20, 51) images; a 2-block CNN trained with Adam. Prints test accuracy against chance.
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

import blaze  # noqa: E402
from tqdm import tqdm  # noqa: E402
from blaze import audio, nn  # noqa: E402
from blaze.audio import transforms as AT  # noqa: E402
from blaze.data import DataLoader, TensorDataset  # noqa: E402
from blaze.nn import functional as F  # noqa: E402

SR, SECONDS = 8000, 0.5
KEYWORDS = ["rise", "fall", "low-high", "high-low", "warble", "beeps", "noise"]


def _tone(f0, f1, n):
    """A chirp from f0 to f1 Hz over n samples (phase = integral of the linear frequency sweep)."""
    freq = np.linspace(f0, f1, n)
    return np.sin(2 * np.pi * np.cumsum(freq) / SR)


def synth(label: int, rng) -> np.ndarray:
    n = int(SR * SECONDS)
    k = rng.uniform(0.85, 1.15)                       # pitch
    m = int(n * rng.uniform(0.5, 0.8))                # keyword length
    half = m // 2
    name = KEYWORDS[label]
    if name == "rise":
        sig = _tone(400 * k, 1600 * k, m)
    elif name == "fall":
        sig = _tone(1600 * k, 400 * k, m)
    elif name in ("low-high", "high-low"):
        first, second = (600 * k, 1200 * k) if name == "low-high" else (1200 * k, 600 * k)
        sig = np.concatenate([_tone(first, first, half), _tone(second, second, m - half)])
    elif name == "warble":
        sig = _tone(900 * k, 900 * k, m) * (0.6 + 0.4 * np.sin(2 * np.pi * 12 * np.arange(m) / SR))
    elif name == "beeps":
        gate = (np.arange(m) * 6 // m) % 2 == 0        # on, off, on, off, on, off
        sig = _tone(1000 * k, 1000 * k, m) * gate
    else:
        sig = np.zeros(m)
    clip = np.zeros(n)
    start = rng.integers(0, n - m + 1)
    clip[start:start + m] = sig * np.hanning(m) ** 0.25   # soft edges, no clicks
    snr_db = rng.uniform(-5, 10)
    noise = rng.standard_normal(n) * np.sqrt(0.5 / 10 ** (snr_db / 10))   # a unit sine has power 0.5
    clip = clip + noise
    return (clip / np.abs(clip).max() * rng.uniform(0.3, 0.9)).astype(np.float32)


def make_set(count: int, rng):
    labels = rng.integers(0, len(KEYWORDS), count)
    return np.stack([synth(int(y), rng) for y in labels]), labels


class KWSNet(nn.Module):
    """(B, 1, n_mfcc, frames) -> two conv/BN/ReLU/pool blocks -> global average -> logits."""

    def __init__(self, n_classes: int, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(2 * width, n_classes)

    def forward(self, x):
        return self.head(self.features(x))


def features(mfcc, waves, batch: int = 256):
    """MFCCs standardised per coefficient over time: (N, time) -> (N, 1, n_mfcc, frames)."""
    out = []
    with blaze.no_grad():
        for i in range(0, len(waves), batch):
            m = mfcc(blaze.from_numpy(waves[i:i + batch]))              # (b, n_mfcc, frames)
            m = (m - m.mean(-1, keepdim=True)) / (m.std(-1, keepdim=True) + 1e-5)
            out.append(m.unsqueeze(1))
    return blaze.cat(out)


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description="keyword spotting on synthesised tone/chirp keywords")
    ap.add_argument("--train", type=int, default=3000, help="training clips")
    ap.add_argument("--test", type=int, default=1000, help="test clips")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-wav", type=Path, default=None, help="write one example WAV per keyword here")
    args = ap.parse_args(argv)

    blaze.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    (xtr, ytr), (xte, yte) = make_set(args.train, rng), make_set(args.test, rng)
    if args.save_wav:
        args.save_wav.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(KEYWORDS):
            audio.save(args.save_wav / f"{name}.wav", blaze.from_numpy(synth(i, rng))[None], SR)
        print(f"wrote {len(KEYWORDS)} WAVs to {args.save_wav}")
    mfcc = AT.MFCC(sample_rate=SR, n_mfcc=20, melkwargs={"n_fft": 256, "hop_length": 80, "n_mels": 32})
    ftr, fte = features(mfcc, xtr), features(mfcc, xte)
    print(f"data: {args.train} train / {args.test} test clips of {SECONDS} s at {SR} Hz, {len(KEYWORDS)} classes; "
          f"MFCC features {tuple(ftr.shape[1:])}, {time.perf_counter() - t0:.1f} s to synthesise and featurise")

    model = KWSNet(len(KEYWORDS), args.width).to(args.device)
    opt = blaze.optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(TensorDataset(ftr, blaze.from_numpy(ytr.astype(np.int64))), batch_size=args.batch_size,
                        shuffle=True)
    t1 = time.perf_counter()
    for epoch in range(args.epochs):
        for x, y in tqdm(loader, desc=f"epoch {epoch + 1}", disable=None):
            loss = F.cross_entropy(model(x.to(args.device)), y.to(args.device))
            opt.zero_grad()
            loss.backward()
            opt.step()
    train_s = time.perf_counter() - t1
    model.eval()
    with blaze.no_grad():
        pred = blaze.cat([model(fte[i:i + 256].to(args.device)).argmax(1).cpu() for i in range(0, len(fte), 256)])
    acc = float((pred.numpy() == yte).mean())
    print(f"test accuracy {acc:.3f} (chance {1 / len(KEYWORDS):.3f}) after {args.epochs} epochs, "
          f"{train_s:.0f} s training, last loss {float(loss):.3f}")
    return acc


if __name__ == "__main__":
    main()
