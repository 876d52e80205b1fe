"""The demo's Fashion-MNIST CNN trained data-parallel: one process per rank, gradients averaged by DDP.

    blaze run -n 2 examples/ddp.py                     # 2 ranks on this machine, bundled 10,000-image subset
    blaze run -n 2 examples/ddp.py --epochs 3 --batch-size 32
    mpiexec -n 2 python examples/ddp.py                # the same, with plain mpiexec

Each rank reads its own half of every epoch (DistributedSampler), so 2 ranks with
--batch-size 64 take the optimizer steps of 1 process with batch 128. Run with -n 1 for
the single-process baseline. Needs ``pip install 'blaze[mpi]'``.
"""
from __future__ import annotations

import argparse
import time

import blaze
import blaze.distributed as dist
from blaze.data import DataLoader, DistributedSampler, Subset
from blaze.data import transforms as T
from blaze.data.datasets import FashionMNIST
from blaze.demo import MEAN, STD, build_model
from blaze.nn.parallel import DistributedDataParallel as DDP


def shard_accuracy(model, dataset, batch_size):
    """Accuracy over the whole test set: each rank scores its share, the counts are summed."""
    sampler = DistributedSampler(dataset, shuffle=False, drop_last=False)
    counts = blaze.zeros(2, dtype=blaze.int64)
    model.eval()
    with blaze.no_grad():
        for images, labels in DataLoader(dataset, batch_size=batch_size, sampler=sampler):
            counts[0] += int((model(images).argmax(dim=1) == labels).sum())
            counts[1] += labels.shape[0]
    dist.all_reduce(counts)
    return int(counts[0]) / int(counts[1])


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64, help="per rank")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit-train", type=int, default=None, help="use only the first N training images")
    p.add_argument("--limit-test", type=int, default=None, help="use only the first N test images")
    args = p.parse_args(argv)

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    blaze.manual_seed(args.seed)  # DDP broadcasts rank 0's initial weights anyway
    tf = T.Compose([T.ToTensor(), T.Normalize((MEAN,), (STD,))])
    train_set, test_set = FashionMNIST(train=True, transform=tf), FashionMNIST(train=False, transform=tf)
    if args.limit_train:
        train_set = Subset(train_set, range(min(args.limit_train, len(train_set))))
    if args.limit_test:
        test_set = Subset(test_set, range(min(args.limit_test, len(test_set))))
    sampler = DistributedSampler(train_set, seed=args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler)

    model = DDP(build_model())
    opt = blaze.optim.Adam(model.parameters(), lr=args.lr)
    F = blaze.nn.functional
    if rank == 0:
        print(f"{world} rank(s), {len(train_set)} training images, {len(sampler)} per rank per epoch, "
              f"global batch {args.batch_size * world}")
    t0 = time.monotonic()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        model.train()
        stats = blaze.zeros(2, dtype=blaze.float64)  # summed loss, samples
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            stats += blaze.tensor([loss.item() * labels.shape[0], labels.shape[0]], dtype=blaze.float64)
        dist.all_reduce(stats)
        if rank == 0:
            print(f"epoch {epoch + 1}/{args.epochs}: train loss {float(stats[0] / stats[1]):.4f} "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)
    acc = shard_accuracy(model, test_set, 500)
    if rank == 0:
        print(f"test accuracy: {acc:.2%} ({len(test_set)} images)")
    dist.destroy_process_group()
    return acc


if __name__ == "__main__":
    main()
