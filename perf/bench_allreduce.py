"""blaze.distributed on one machine: all-reduce bus bandwidth vs raw mpi4py, DDP step time and overlap.

    python perf/bench_allreduce.py [--quick] [--out results.json]

launches itself with ``blaze run`` three times:

1. 2 ranks: ``dist.all_reduce`` and raw ``comm.Allreduce(MPI.IN_PLACE, ...)`` on the same
   float32 buffers, 1 KiB to 64 MiB, interleaved repetition by repetition so both see the
   same machine noise; median time, algbw = bytes / t, busbw = algbw * 2(n-1)/n (NCCL's).
2. 1 rank and 3. 2 ranks: the demo CNN (``blaze.demo.build_model``), batch 64 per rank,
   forward + backward + Adam step under DDP. On 2 ranks backward is also timed under
   ``no_sync()`` (no communication), and the buckets' all-reduces alone: overlap =
   1 - (backward with DDP - backward without) / all-reduces alone (1 = fully hidden, 0 when
   DDP adds as much as the communication costs or more: packing and hooks count too).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SIZES = [1 << k for k in range(10, 27, 2)]  # 1 KiB .. 64 MiB


def _median_time(fn, iters):
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def bench_allreduce(quick: bool):
    import numpy as np
    from mpi4py import MPI

    import blaze
    import blaze.distributed as dist
    g = dist.process_group.default_group()
    comm, n = g.comm, g.size()
    rows = []
    for nbytes in SIZES[:7] if quick else SIZES:
        t = blaze.zeros(nbytes // 4)  # zeros: repeated sums stay finite
        buf = t.numpy()  # the same memory for both
        iters = max(3, min(500, (8 << 20) // nbytes))
        times = {"raw": [], "blaze": [], "blaze_nocheck": []}
        for rep in range(7 if quick else 15):
            comm.Barrier()
            times["raw"].append(_median_time(lambda: comm.Allreduce(MPI.IN_PLACE, buf), iters))
            comm.Barrier()
            times["blaze"].append(_median_time(lambda: dist.all_reduce(t), iters))
            mode, g.check = g.check, "off"  # as BLAZE_DISTRIBUTED_CHECK=0
            comm.Barrier()
            times["blaze_nocheck"].append(_median_time(lambda: dist.all_reduce(t), iters))
            g.check = mode
        row = {"bytes": nbytes}
        for k, v in times.items():  # min: the least-disturbed repetition on a shared machine; median too
            row[k + "_us"], row[k + "_median_us"] = min(v) * 1e6, statistics.median(v) * 1e6
            row[k + "_busbw_GBs"] = nbytes / min(v) * 2 * (n - 1) / n / 1e9
        rows.append(row)
        assert np.isfinite(buf).all()
    return rows


def bench_ddp(quick: bool, device: str = "cpu"):
    import blaze
    import blaze.distributed as dist
    from blaze.demo import build_model
    from blaze.nn.parallel import DistributedDataParallel as DDP
    F = blaze.nn.functional
    n = dist.get_world_size()
    sync = blaze.cuda.synchronize if device == "cuda" else (lambda: None)  # device time, not launch time
    blaze.manual_seed(0)
    x, y = blaze.randn(64, 1, 28, 28, device=device), blaze.randint(0, 10, (64,), device=device)
    steps = 8 if quick else 20
    out = {"world_size": n}
    for label, cap in (("default buckets", None), ("0.1 MiB buckets", 0.1)):
        model = DDP(build_model().to(device), bucket_cap_mb=cap)
        opt = blaze.optim.Adam(model.parameters(), lr=1e-3)

        def step(grad_sync=True):  # without grad sync, forward and backward both run under no_sync()
            with contextlib.nullcontext() if grad_sync else model.no_sync():
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                sync()
                t0 = time.perf_counter()
                loss.backward()
                sync()
                t_bwd = time.perf_counter() - t0
            opt.step()
            return t_bwd
        for _ in range(3):
            step()
        dist.barrier()
        t0 = time.perf_counter()
        bwd = [step() for _ in range(steps)]
        sync()
        total = (time.perf_counter() - t0) / steps
        row = {"buckets": len(model._buckets), "step_ms": total * 1e3, "backward_ms": statistics.median(bwd) * 1e3,
               "samples_per_s": 64 * n / total}
        if n > 1:
            nosync = [step(grad_sync=False) for _ in range(steps)]
            for b in model._buckets:  # the same traffic as DDP's: one all-reduce per bucket
                b.flat = blaze.zeros(sum(p.numel() for p in b.params), device=device)
            comm = [_median_time(lambda: ([dist.all_reduce(b.flat, op=dist.ReduceOp.AVG) for b in model._buckets],
                                          sync()), 1) for _ in range(steps)]
            row["backward_nosync_ms"] = statistics.median(nosync) * 1e3
            row["allreduce_alone_ms"] = statistics.median(comm) * 1e3
            # what DDP adds to backward, against what its communication alone would cost
            row["ddp_added_ms"] = row["backward_ms"] - row["backward_nosync_ms"]
            row["overlap"] = max(0.0, 1 - row["ddp_added_ms"] / row["allreduce_alone_ms"])
        out[label] = row
    return out


def _worker(part: str, quick: bool, path: str):
    import blaze.distributed as dist
    dist.init_process_group("mpi")
    result = bench_allreduce(quick) if part == "allreduce" else bench_ddp(quick)
    if dist.get_rank() == 0:
        with open(path, "w") as f:
            json.dump(result, f)
    dist.destroy_process_group()


def _launch(n, part, quick, ft=True):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out.json")
        cmd = [sys.executable, "-m", "blaze.cli", "run", "-n", str(n)] + ([] if ft else ["--no-fault-tolerance"])
        cmd += [os.path.abspath(__file__), "--worker", part, "--json", path] + (["--quick"] if quick else [])
        subprocess.run(cmd, check=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), timeout=1200)
        with open(path) as f:
            return json.load(f)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--no-fault-tolerance", action="store_true", help="launch without ULFM (see blaze run --help)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        _worker(a.worker, a.quick, a.json)
        return 0
    ft = not a.no_fault_tolerance
    result = {"allreduce_2_ranks": _launch(2, "allreduce", a.quick, ft), "ddp_1_rank": _launch(1, "ddp", a.quick, ft),
              "ddp_2_ranks": _launch(2, "ddp", a.quick, ft), "cpus": os.cpu_count(),
              "load_average": os.getloadavg(), "ulfm": ft}
    print(f"all-reduce, 2 ranks, float32, {'with' if ft else 'without'} ULFM (machine: {os.cpu_count()} CPUs, "
          f"load average {result['load_average'][0]:.1f})")
    print(f"{'size':>9} {'raw us':>9} {'blaze us':>9} {'no-check':>9} {'raw busbw':>10} {'blaze':>10} "
          f"{'no-check':>10} {'ratio':>6} {'ratio nc':>8}")
    for r in result["allreduce_2_ranks"]:
        size = f"{r['bytes'] >> 20} MiB" if r["bytes"] >= 1 << 20 else f"{r['bytes'] >> 10} KiB"
        print(f"{size:>9} {r['raw_us']:9.1f} {r['blaze_us']:9.1f} {r['blaze_nocheck_us']:9.1f} "
              f"{r['raw_busbw_GBs']:6.2f}GB/s {r['blaze_busbw_GBs']:6.2f}GB/s {r['blaze_nocheck_busbw_GBs']:6.2f}GB/s "
              f"{r['blaze_busbw_GBs'] / r['raw_busbw_GBs']:6.2f} {r['blaze_nocheck_busbw_GBs'] / r['raw_busbw_GBs']:8.2f}")
    print("\nDDP, demo CNN, batch 64 per rank, Adam")
    for label in ("default buckets", "0.1 MiB buckets"):
        one, two = result["ddp_1_rank"][label], result["ddp_2_ranks"][label]
        print(f"  {label} ({two['buckets']}): step {one['step_ms']:.1f} ms on 1 rank, {two['step_ms']:.1f} ms on 2 "
              f"({one['samples_per_s']:.0f} -> {two['samples_per_s']:.0f} samples/s); backward on 2 ranks "
              f"{two['backward_ms']:.1f} ms with DDP, {two['backward_nosync_ms']:.1f} ms without communication, "
              f"all-reduce alone {two['allreduce_alone_ms']:.2f} ms: DDP adds {two['ddp_added_ms']:.1f} ms, "
              f"overlap {two['overlap']:.0%}")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
