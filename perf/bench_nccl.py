"""For a multi-GPU machine: NCCL all-reduce bus bandwidth and DDP overlap on cuda tensors.

    blaze run -n 8 perf/bench_nccl.py [--quick] [--out results.json]   # one rank per GPU

Not yet run: no machine with several GPUs was available (the CPU numbers come from
``perf/bench_allreduce.py``). Prints, on rank 0, ``dist.all_reduce`` time and bus bandwidth
(algbw * 2(n-1)/n, as nccl-tests) from 1 KiB to 1 GiB, each timed between
``blaze.cuda.synchronize()`` calls, then the demo CNN's DDP step on the GPUs with backward
timed with and without communication (``bench_allreduce.bench_ddp``). Compare the 1 GiB
figure with nccl-tests' ``all_reduce_perf`` on the same machine (NVLink: hundreds of GB/s).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_allreduce import bench_ddp  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    import blaze
    import blaze.distributed as dist
    dist.init_process_group()  # MPI for host tensors, NCCL for cuda tensors
    n, rank = dist.get_world_size(), dist.get_rank()
    rows = []
    for k in range(10, 27 if a.quick else 31, 2):  # 1 KiB .. 1 GiB
        nbytes = 1 << k
        t = blaze.zeros(nbytes // 4, device="cuda")
        iters = max(5, min(1000, (1 << 30) // nbytes))
        dist.all_reduce(t)
        blaze.cuda.synchronize()
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(t)
        blaze.cuda.synchronize()
        sec = (time.perf_counter() - t0) / iters
        rows.append({"bytes": nbytes, "us": sec * 1e6, "busbw_GBs": nbytes / sec * 2 * (n - 1) / n / 1e9})
    ddp = bench_ddp(a.quick, device="cuda")
    if rank == 0:
        for r in rows:
            print(f"{r['bytes']:>12} B {r['us']:10.1f} us {r['busbw_GBs']:8.2f} GB/s")
        print(json.dumps(ddp, indent=1))
        if a.out:
            with open(a.out, "w") as f:
                json.dump({"world_size": n, "allreduce": rows, "ddp": ddp}, f, indent=1)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
