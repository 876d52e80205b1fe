"""Intra-op parallelism of the NumPy backend: an op's independent pieces on the calling thread
and ``workers - 1`` helper threads.

NumPy's ufunc loops and BLAS calls release the GIL, so NumPy work on disjoint slices runs
truly in parallel in threads. That is how PyTorch's CPU kernels scale (one OpenMP loop over
heads, batch rows or channels), and it is what BLAS threading alone cannot do: only the
GEMMs of an op were parallel, never its softmax, gates or im2col copies. Causal attention
B2 H4 T1024 D64, forward + backward on this 2-core machine at 2 threads: 208 ms with BLAS
threading alone, 97 ms with 2 workers over heads (perf/bench_cpu_layers.py, PyTorch: 65 ms).

During a parallel region BLAS is pinned to one thread (threadpoolctl), so N workers do not
each wake N BLAS threads on N cores; it is restored when the last region ends. Regions never
nest: an op called inside a piece runs its pieces serially, and one thread's region runs
serially while another thread's holds the helpers.

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

import numpy as np

_lock = threading.Lock()
_local = threading.local()
_state = {"pool": None, "blas": None, "saved": None, "active": 0, "threads": None}


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


class _Job:
    """One region's pieces, taken in order by whichever thread is free (the caller and the helpers)."""

    def __init__(self, fn, n: int):
        self.fn, self.n, self.next, self.error = fn, n, 0, None
        self.take = threading.Lock()

    def run(self) -> None:
        while True:
            with self.take:
                i, self.next = self.next, self.next + 1
            if i >= self.n:
                return
            try:
                self.fn(i)
            except BaseException as e:                            # noqa: BLE001 - re-raised by the caller
                self.error = self.error or e                      # the other pieces still run: disjoint writes


class _Helpers:
    """``size - 1`` threads that run a region's pieces beside the calling thread.

    Each helper sleeps on its own lock and is woken by a release (a futex, ~15 us here), and the
    caller runs pieces too instead of waiting. concurrent.futures' pool cost 90 us per region of
    empty pieces and did not even run two real pieces at once: its idle thread took both from the
    shared queue before the second thread woke (2 pieces of ~200 us: 408-489 us, serial 406 us; here
    258-315 us, and ~25 us per region of empty pieces)."""

    def __init__(self, size: int):
        self.size, self.pid, self.job, self.broken = size, os.getpid(), None, False
        self.busy = threading.Lock()                              # one region at a time
        self.go = [threading.Lock() for _ in range(size - 1)]
        self.done = [threading.Lock() for _ in range(size - 1)]
        for k in range(size - 1):
            self.go[k].acquire()
            self.done[k].acquire()
            threading.Thread(target=self._loop, args=(k,), name=f"blaze-cpu-{k}", daemon=True).start()

    def _loop(self, k: int) -> None:
        _local.inside = True                                      # no nested regions on a helper
        while True:
            self.go[k].acquire()
            job = self.job
            if job is None:                                       # stop()
                return
            job.run()
            self.done[k].release()

    def run(self, job: _Job) -> None:
        """Run every piece of ``job``, on up to ``size`` threads; returns when all have ended."""
        woken = range(min(job.n, self.size) - 1)
        self.job = job
        for k in woken:
            self.go[k].release()
        _local.inside = True
        try:
            job.run()
        finally:
            _local.inside = False
            try:
                for k in woken:
                    self.done[k].acquire()
            except BaseException:                                 # interrupted while a helper still runs
                self.broken = True
                raise

    def stop(self) -> None:
        """End the helper threads (after a resize)."""
        self.job = None
        for lock in self.go:
            lock.release()


def _helpers(size: int) -> _Helpers:
    with _lock:
        pool = _state["pool"]
        # threads made before os.fork() do not exist in the child (DataLoader workers): make new ones
        if pool is None or pool.size != size or pool.pid != os.getpid() or pool.broken:
            if pool is not None and pool.pid == os.getpid() and not pool.broken and pool.busy.acquire(blocking=False):
                pool.stop()                                       # resized by set_num_threads
            pool = _state["pool"] = _Helpers(size)
        return pool


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


def _serial(fn, n: int) -> None:
    for i in range(n):
        fn(i)


def parallel_for(fn, n: int, workers: int | None = None) -> None:
    """Call ``fn(i)`` for i in range(n), spread over the workers; the pieces must write disjoint memory.

    The calling thread runs pieces too. Serial when one worker is asked for, when there is one
    piece, inside a piece, while another thread's region holds the workers, or when
    threadpoolctl is missing or finds no BLAS it can pin (N workers would then oversubscribe
    the cores N-fold). A piece's exception is raised here once every piece has ended.
    """
    workers = num_workers() if workers is None else workers
    if min(n, workers) <= 1 or getattr(_local, "inside", False) or not _blas_controllers():
        return _serial(fn, n)
    pool = _helpers(workers)
    if not pool.busy.acquire(blocking=False):
        return _serial(fn, n)
    job = _Job(fn, n)
    _enter()
    try:
        pool.run(job)
    finally:
        pool.busy.release()
        _exit()
    if job.error is not None:
        raise job.error


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
    if out.ndim > 2:                                              # by the leading batch dim
        sa = a.ndim == out.ndim and a.shape[0] != 1
        sb = b.ndim == out.ndim and b.shape[0] != 1
        parts = chunks(out.shape[0], n)
        piece = lambda r: (a[r] if sa else a, b[r] if sb else b, out[r])   # noqa: E731
    elif M >= _MIN_ROWS * n or M >= N:                            # by rows of a
        parts = chunks(M, n)
        piece = lambda r: (a[r], b, out[r])                       # noqa: E731
    else:                                                         # by columns of b
        parts = chunks(N, n)
        piece = lambda r: (a, b[:, r], out[:, r])                 # noqa: E731

    def run(j):
        x, y, o = piece(slice(*parts[j]))
        np.matmul(x, y, out=o)
    parallel_for(run, len(parts))
    return result


def chunks(n: int, parts: int) -> list[tuple[int, int]]:
    """(start, stop) of ``parts`` near-equal slices of range(n); fewer when n < parts."""
    parts = max(1, min(n, parts))
    bounds = [n * k // parts for k in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))
