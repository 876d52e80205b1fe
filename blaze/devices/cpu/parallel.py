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

The cpu ops never use BLAS's own threads: their large GEMMs go through :func:`matmul`, which
splits them over the workers. OpenBLAS's threads busy-wait for about 0.1 s of CPU after each
threaded call (measured: 0.11 s of process CPU time during a 0.5 s sleep after one
(1024, 512) @ (512, 2048) GEMM), so a worker region that follows a BLAS-threaded GEMM shares
its cores with a spinning thread: the same GEMM split over 2 workers took 17 ms alone and
30-34 ms right after BLAS-threaded ones. Split by the workers it is as fast as BLAS's own
2 threads (16.7 vs 16.8 ms) and leaves nothing spinning.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

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


# OpenBLAS runs a GEMM on the calling thread below M*N*K = 65536 * 4 (interface/gemm.c): no split
_SERIAL_MNK = 1 << 18
# rows per worker below which a 2-D GEMM is split by columns instead (each piece packs all of b)
_MIN_ROWS = 64


def matmul(a, b, out=None):
    """``np.matmul(a, b, out=out)`` with the work split over the workers, BLAS on one thread each.

    2-D: by rows of ``a``, or by columns of ``b`` when there are few rows; stacked: by the
    leading batch dimension (broadcasting as np.matmul). Runs as a single call when small,
    inside a worker, or with one worker.
    """
    if a.ndim < 2 or b.ndim < 2:
        return np.matmul(a, b, out=out)
    if out is None:
        shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
        out = np.empty(shape, np.result_type(a, b))
    result, (M, K, N), n = out, (a.shape[-2], a.shape[-1], b.shape[-1]), num_workers()
    if n <= 1 or getattr(_local, "inside", False) or out.size * K < _SERIAL_MNK:
        return np.matmul(a, b, out=out)
    while out.ndim > 2 and out.shape[0] == 1:                     # drop leading unit batch dims
        a, b, out = a[0] if a.ndim == out.ndim else a, b[0] if b.ndim == out.ndim else b, out[0]
    if out.ndim > 2:
        lead = out.shape[0]
        sa = a.ndim == out.ndim and a.shape[0] != 1
        sb = b.ndim == out.ndim and b.shape[0] != 1
        parts = chunks(lead, n)
        parallel_for(lambda j: np.matmul(a[slice(*parts[j])] if sa else a, b[slice(*parts[j])] if sb else b,
                                         out=out[slice(*parts[j])]), len(parts))
    elif M >= _MIN_ROWS * n or M >= N:
        parts = chunks(M, n)
        parallel_for(lambda j: np.matmul(a[slice(*parts[j])], b, out=out[slice(*parts[j])]), len(parts))
    else:
        parts = chunks(N, n)
        parallel_for(lambda j: np.matmul(a, b[:, slice(*parts[j])], out=out[:, slice(*parts[j])]), len(parts))
    return result


def chunks(n: int, parts: int) -> list[tuple[int, int]]:
    """(start, stop) of ``parts`` near-equal slices of range(n); fewer when n < parts."""
    parts = max(1, min(n, parts))
    bounds = [n * k // parts for k in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))
