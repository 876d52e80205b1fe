"""DataLoader throughput: Fashion-MNIST images/s through ToTensor + Normalize, 0 and 2 workers.

    python perf/bench_dataloader.py [--quick] [--out results.json]

``run(quick)`` returns one dict per case (keys: case, shape, dtype, device, median_s,
items_per_s) for the ``python -m perf`` runner. Workers are persistent and warmed up by one
untimed pass, so the figure is steady-state loading, not process start-up.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from perf._cli import write_json  # noqa: E402

SHARED_FASHION = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data",
                              "fashion-mnist")
BATCH = 64
WORKERS = (0, 2)


def _dataset(quick: bool):
    from blaze.data import Subset
    from blaze.data import transforms as T
    from blaze.data.datasets import FashionMNIST

    tf = T.Compose([T.ToTensor(), T.Normalize((0.2860,), (0.3530,))])  # Fashion-MNIST train mean / std
    root = SHARED_FASHION if os.path.isdir(SHARED_FASHION) else None  # else the bundled subset
    ds = FashionMNIST(root, train=True, transform=tf)
    n = 2048 if quick else 10240  # 32 / 160 batches of 64
    return Subset(ds, range(min(n, len(ds))))


def _time_epochs(loader, repeats: int) -> list[float]:
    for _ in loader:  # warm-up: starts the persistent workers, fills caches
        pass
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in loader:
            pass
        times.append(time.perf_counter() - t0)
    return times


def run(quick: bool = False) -> list[dict]:
    """Time one pass over the subset per repeat, for each worker count; median over repeats."""
    from blaze.data import DataLoader

    ds = _dataset(quick)
    repeats = 3 if quick else 5
    results = []
    for nw in WORKERS:
        extra = dict(persistent_workers=True) if nw else {}
        loader = DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=nw, **extra)
        median = statistics.median(_time_epochs(loader, repeats))
        if nw:
            loader._pool.shutdown()
        results.append(dict(case=f"dataloader_fashion_mnist_workers{nw}", shape=f"{len(ds)}x1x28x28 (batch {BATCH})",
                            dtype="float32", device="cpu", median_s=median, items_per_s=len(ds) / median))
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer images and repeats")
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args(argv)
    rows = run(args.quick)
    print(f"{'case':<38} {'shape':<28} {'median s':>9} {'images/s':>10}")
    for r in rows:
        print(f"{r['case']:<38} {r['shape']:<28} {r['median_s']:>9.4f} {r['items_per_s']:>10.0f}")
    write_json(rows, args.out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
