"""Intra-op parallelism of the NumPy backend: an op's independent pieces on a thread pool.

NumPy's ufunc loops and BLAS calls release the GIL, so NumPy work on disjoint slices runs
truly in parallel in threads. That is how PyTorch's CPU kernels scale (one OpenMP loop over
heads, batch rows or channels), and it is what BLAS threading alone cannot do: only the
GEMMs of an op were parallel, never its softmax, gates or im2col copies. Causal attention
B2 H4 T1024 D64, forward + backward on this 2-core machine at 2 threads: 208 ms with BLAS
threading alone, 97 ms with 2 workers over heads (perf/bench_cpu_layers.py, PyTorch: 65 ms).

During a parallel region BLAS is pinned to one thread (threadpoolctl), so N workers do not
each wake N BLAS threads on N cores; it is restored when the last region ends. Workers never
nest: an op called inside a worker runs its pieces serially.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

_lock = threading.Lock()
_local = threading.local()
_state = {"pool": None, "size": 0, "pid": None, "blas": None, "saved": None, "active": 0, "threads": None}


def num_workers() -> int:
    """Workers per op: ``blaze.set_num_threads`` when called, else the BLAS pool's size at first use."""
    if _state["threads"] is None:
        sizes = [lib.num_threads for lib in _blas_controllers()]
        _state["threads"] = max(sizes) if sizes else 1          # no threadpoolctl: serial (see parallel_for)
    return _state["threads"]


def set_workers(n: int) -> None:
    """Called by ``blaze.set_num_threads``."""
    _state["threads"] = n


def _blas_controllers():
    """threadpoolctl's controllers of the loaded BLAS libraries; [] without threadpoolctl."""
    if _state["blas"] is None:
        try:
            from threadpoolctl import ThreadpoolController
            _state["blas"] = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        except ImportError:
            _state["blas"] = []
    return _state["blas"]


def _pool(n: int) -> ThreadPoolExecutor:
    # a pool made before os.fork() has no threads in the child (DataLoader workers): make a new one
    if _state["pool"] is None or _state["size"] != n or _state["pid"] != os.getpid():
        if _state["pool"] is not None and _state["pid"] == os.getpid():
            _state["pool"].shutdown(wait=False)                   # resized by set_num_threads
        _state.update(pool=ThreadPoolExecutor(n, thread_name_prefix="blaze-cpu"), size=n, pid=os.getpid())
    return _state["pool"]


def _enter() -> None:
    with _lock:
        if _state["active"] == 0:
            libs = _blas_controllers()
            _state["saved"] = [lib.num_threads for lib in libs]
            for lib in libs:
                lib.set_num_threads(1)
        _state["active"] += 1


def _exit() -> None:
    with _lock:
        _state["active"] -= 1
        if _state["active"] == 0:
            for lib, n in zip(_blas_controllers(), _state["saved"]):
                lib.set_num_threads(n)


def _run(fn, i):
    _local.inside = True
    try:
        return fn(i)
    finally:
        _local.inside = False


def parallel_for(fn, n: int, workers: int | None = None) -> None:
    """Call ``fn(i)`` for i in range(n), spread over the workers; the pieces must write disjoint memory.

    Serial when one worker is asked for, when there is one piece, inside a worker, or when
    threadpoolctl is missing or finds no BLAS it can pin (N workers would then oversubscribe
    the cores N-fold).
    """
    workers = num_workers() if workers is None else workers
    if min(n, workers) <= 1 or getattr(_local, "inside", False) or not _blas_controllers():
        for i in range(n):
            fn(i)
        return
    _enter()
    try:
        futures = [_pool(workers).submit(_run, fn, i) for i in range(n)]
        wait(futures)                                             # all pieces end before BLAS is restored
        for f in futures:
            f.result()                                            # re-raises a piece's exception
    finally:
        _exit()


def chunks(n: int, parts: int) -> list[tuple[int, int]]:
    """(start, stop) of ``parts`` near-equal slices of range(n); fewer when n < parts."""
    parts = max(1, min(n, parts))
    bounds = [n * k // parts for k in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))
