"""A tensor through a multiprocessing Queue and back: by value (pickled bytes) against by handle (shared memory).

    python perf/bench_mp_queue.py [--mib 64] [--reps 5]

Prints the pickled size and the median round-trip time (parent -> child -> parent, 'fork')
of one float32 tensor, first as an ordinary tensor, then after ``share_memory_()``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _echo(inbox, outbox):
    while (t := inbox.get()) is not None:
        outbox.put(t)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mib", type=int, default=64)
    p.add_argument("--reps", type=int, default=5)
    args = p.parse_args(argv)
    import blaze
    import blaze.multiprocessing as mp
    from multiprocessing.reduction import ForkingPickler

    ctx = mp.get_context("fork")
    inbox, outbox = ctx.Queue(), ctx.Queue()
    child = ctx.Process(target=_echo, args=(inbox, outbox))
    child.start()
    for shared in (False, True):
        t = blaze.randn(args.mib * 1024 * 1024 // 4)
        if shared:
            t.share_memory_()
        inbox.put(t)
        outbox.get()  # warm-up: the resource sharer's thread, first connection
        times = []
        for _ in range(args.reps):
            start = time.perf_counter()
            inbox.put(t)
            outbox.get()
            times.append(time.perf_counter() - start)
        print(f"{args.mib} MiB, shared={shared}: pickled {len(ForkingPickler.dumps(t)):>10} bytes, "
              f"round trip {statistics.median(times) * 1e3:8.1f} ms (median of {args.reps})")
    inbox.put(None)
    child.join()


if __name__ == "__main__":
    main()
