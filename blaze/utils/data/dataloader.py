"""DataLoader: batches from a dataset, in the main process or in worker processes.

Workers are processes (``multiprocessing``, 'fork' on Linux, else 'spawn'). Each worker has
its own task queue; all answer on one result queue; the main process hands batches out in
sampler order. See ``blaze/utils/data/_utils/worker.py`` for the seeding rule that makes batches and
random transforms identical for any ``num_workers``.
"""
from __future__ import annotations

import itertools
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import pickle
import signal
import time
import warnings

import blaze
from blaze import _env

from ._utils import worker as _worker
from ._utils.collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

# how often the main process wakes while waiting to check that workers are alive: a dead
# worker is reported within ~0.1 s, and a ready batch is picked up at once regardless
_POLL_S = 0.1
_JOIN_S = 2.0


def _default_context():
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


class DataLoader:
    """Iterate over ``dataset`` in batches (torch.utils.data.DataLoader's arguments).

    Args:
        batch_size: samples per batch; None turns batching off (``collate_fn`` then gets single samples).
        shuffle: a fresh random order every epoch (a :class:`RandomSampler` using ``generator``).
        sampler / batch_sampler: custom index order / custom index lists.
        num_workers: 0 loads in the main process; n > 0 starts n worker processes.
        collate_fn: merges a list of samples; :func:`default_collate` by default.
        pin_memory / pin_memory_device: accepted for PyTorch compatibility; no-ops (blaze
            copies host -> device from ordinary NumPy memory).
        drop_last: drop the last incomplete batch.
        timeout: seconds to wait for a worker's batch before raising (0 = wait forever, while
            the workers are alive; a worker that holds a batch for ``BLAZE_DATALOADER_WATCHDOG``
            seconds, default 300, without delivering anything is reported with a warning once
            per stall, naming its id and pid).
        worker_init_fn: called as ``fn(worker_id)`` in each worker after seeding.
        multiprocessing_context: a start-method name or context; default fork where available.
        generator: the ``blaze.Generator`` for the shuffle order and the per-epoch base seed.
        prefetch_factor: batches in flight per worker (default 2 with workers).
        persistent_workers: keep the worker processes between epochs.

    Reproducibility: each epoch draws one base seed from ``generator`` (or the default
    generator); batch ``b`` is fetched with ``blaze.manual_seed(base_seed + b)`` (plus Python's
    ``random`` and NumPy's global RNG) in whichever process fetches it, so after
    ``blaze.manual_seed(s)`` the batches and the random transforms' draws are the same for any
    ``num_workers``. In the main process the RNG states are restored after each fetch.

    Example::

        loader = DataLoader(dataset, batch_size=64, shuffle=True, num_workers=2)
        for images, labels in loader:
            ...
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn=None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None, multiprocessing_context=None,
                 generator=None, *, prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = ""):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing. "
                             "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if prefetch_factor is not None and prefetch_factor < 1:
            raise ValueError(f"prefetch_factor must be a positive integer, got {prefetch_factor}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self._is_iterable = isinstance(dataset, IterableDataset)
        if self._is_iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                                 f"but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None and not self._is_iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._is_iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn or (default_collate if self._auto_collation else default_convert)
        self.pin_memory = pin_memory  # no-op, see the docstring
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        if isinstance(multiprocessing_context, str):
            multiprocessing_context = mp.get_context(multiprocessing_context)
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers > 0 else prefetch_factor
        self.persistent_workers = persistent_workers
        self._pool = None  # the persistent worker pool, once started

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (self._is_iterable and self.batch_size is not None)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __len__(self) -> int:
        if self._is_iterable:
            n = len(self.dataset)  # TypeError when the stream has no length, as in torch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self._index_sampler)

    def __iter__(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        return _MultiProcessIter(self)

    def _new_base_seed(self) -> int:
        return int(blaze.random.numpy_rng(self.generator).integers(2**62))

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown()


class _SingleProcessIter:
    def __init__(self, loader: DataLoader):
        self._loader = loader
        self._base_seed = loader._new_base_seed()
        self._batch_idx = 0
        if loader._is_iterable:
            self._it = iter(loader.dataset)
        else:
            self._sampler_iter = iter(loader._index_sampler)

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def __next__(self):
        ld = self._loader
        if ld._is_iterable:
            return _worker.fetch_iterable(self._it, ld._auto_collation, ld.batch_size, ld.drop_last, ld.collate_fn)
        indices = next(self._sampler_iter)
        with _worker.seeded(self._base_seed + self._batch_idx, restore=True):
            batch = _worker.fetch(ld.dataset, indices, ld._auto_collation, ld.collate_fn)
        self._batch_idx += 1
        return batch


class _WorkerPool:
    """The worker processes, their task queues and result pipes; outlives an epoch when persistent.

    Results come back on one pipe per worker, written synchronously by the worker (no feeder
    thread): a worker that dies, even half-way through a message, shows up here as EOF on its
    pipe instead of a read that never completes.
    """

    def __init__(self, loader: DataLoader, base_seed: int):
        ctx = loader.multiprocessing_context or _default_context()
        self.index_queues, self.readers, self.workers = [], [], []
        self.epoch = 0
        for wid in range(loader.num_workers):
            iq = ctx.Queue()
            iq.cancel_join_thread()  # never block interpreter exit on undelivered tasks
            reader, writer = ctx.Pipe(duplex=False)
            w = ctx.Process(target=_worker.worker_loop, daemon=True, name=f"blaze-dataloader-{wid}",
                            args=(loader.dataset, loader._is_iterable, iq, writer, loader.collate_fn,
                                  loader._auto_collation, loader.batch_size, loader.drop_last, wid,
                                  loader.num_workers, base_seed, loader.worker_init_fn,
                                  # read ends a forked child inherits; it closes them, so closing
                                  # ours at shutdown gives a worker blocked in send BrokenPipeError
                                  tuple(self.readers) + (reader,)))
            w.start()
            # close our write end before the next fork, so only this worker holds it: its exit is EOF
            writer.close()
            self.index_queues.append(iq)
            self.readers.append(reader)
            self.workers.append(w)
        self.alive = True

    def dead_worker_error(self, wid: int) -> RuntimeError:
        w = self.workers[wid]
        w.join(timeout=_JOIN_S)  # EOF can come a moment before the exit status
        code = w.exitcode
        how = f"exit code {code}"
        if code is not None and code < 0:
            try:
                how += f" (killed by {signal.Signals(-code).name})"
            except ValueError:
                pass
        return RuntimeError(f"DataLoader worker {wid} (pid {w.pid}) exited unexpectedly with {how}")

    def check_alive(self):
        for wid, w in enumerate(self.workers):
            if not w.is_alive():
                raise self.dead_worker_error(wid)

    def receive(self, timeout: float):
        """The next ``(epoch, send_idx, result)`` from any worker, or None after ``timeout`` seconds."""
        ready = mp_connection.wait(self.readers, timeout=timeout)
        if not ready:
            return None
        reader = ready[0]
        try:
            return pickle.loads(reader.recv_bytes())
        except (EOFError, OSError):
            raise self.dead_worker_error(self.readers.index(reader)) from None

    def shutdown(self, force: bool = False):
        """Stop the workers: close the pipes (a worker blocked sending gets BrokenPipeError), send
        each a None task, join; stragglers are terminated (at once when ``force``)."""
        if not self.alive:
            return
        self.alive = False
        for r in self.readers:
            r.close()
        for iq in self.index_queues:
            try:
                iq.put(None)
            except Exception:
                pass
        deadline = time.monotonic() + (0.0 if force else _JOIN_S)
        for w in self.workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.is_alive():
                w.terminate()
                w.join(timeout=_JOIN_S)
        for q in self.index_queues:
            q.cancel_join_thread()
            q.close()


class _MultiProcessIter:
    def __init__(self, loader: DataLoader):
        self._loader = loader
        self._base_seed = loader._new_base_seed()
        pool = loader._pool
        if pool is None or not pool.alive:
            pool = _WorkerPool(loader, self._base_seed)
            if loader.persistent_workers:
                loader._pool = pool
        pool.epoch += 1
        self._pool = pool
        self._epoch = pool.epoch
        n = loader.num_workers
        self._active = [True] * n
        self._outstanding = [0] * n
        self._next_worker = itertools.cycle(range(n))
        self._task_worker = {}  # send_idx -> worker id, for tasks not handed out yet
        self._ready = {}  # send_idx -> result that arrived ahead of its turn
        self._send_idx = 0
        self._rcvd_idx = 0
        self._sampler_done = False
        if not loader._is_iterable:
            self._sampler_iter = iter(loader._index_sampler)
        self._finished = False
        self._watchdog = _env.dataloader_watchdog()
        self._progress = [time.monotonic()] * n  # when each worker last delivered, or got work while idle
        self._stalled = set()  # workers already reported for their current stall
        for _ in range(loader.prefetch_factor * n):
            self._try_put_task()

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def _try_put_task(self):
        n = self._loader.num_workers
        for _ in range(n):
            wid = next(self._next_worker)
            if self._active[wid] and self._outstanding[wid] < self._loader.prefetch_factor:
                break
        else:
            return
        indices = None
        if not self._loader._is_iterable:
            if self._sampler_done:
                return
            try:
                indices = next(self._sampler_iter)
            except StopIteration:
                self._sampler_done = True
                return
        # iterable datasets get the epoch's base seed (reseeded per worker); map-style the batch's
        seed = self._base_seed if self._loader._is_iterable else self._base_seed + self._send_idx
        self._pool.index_queues[wid].put((self._epoch, self._send_idx, seed, indices))
        if self._outstanding[wid] == 0:
            self._progress[wid] = time.monotonic()
        self._task_worker[self._send_idx] = wid
        self._outstanding[wid] += 1
        self._send_idx += 1

    def _get_result(self):
        timeout = self._loader.timeout
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while True:
            wait = _POLL_S if deadline is None else max(0.0, min(_POLL_S, deadline - time.monotonic()))
            try:
                msg = self._pool.receive(wait)
                if msg is None:
                    self._pool.check_alive()
            except RuntimeError:
                self._shutdown(force=True)
                raise
            if msg is None:
                if deadline is not None and time.monotonic() >= deadline:
                    self._shutdown(force=True)
                    raise RuntimeError(f"DataLoader timed out after {timeout} seconds")
                self._check_stalls()
                continue
            epoch, idx, data = msg
            if epoch != self._epoch:
                continue  # a leftover of an earlier, abandoned epoch of persistent workers
            wid = self._task_worker[idx]
            self._progress[wid] = time.monotonic()
            self._stalled.discard(wid)
            return idx, data

    def _check_stalls(self):
        """Warn once per stall about a worker that holds work but has delivered nothing for
        ``self._watchdog`` seconds: with timeout=0 a dataset blocked forever (a dead network
        mount, a lock taken before fork) would otherwise hang the loader without a word."""
        if not self._watchdog:
            return
        now = time.monotonic()
        for wid, since in enumerate(self._progress):
            if self._outstanding[wid] and wid not in self._stalled and now - since >= self._watchdog:
                self._stalled.add(wid)
                pid = self._pool.workers[wid].pid
                warnings.warn(f"DataLoader worker {wid} (pid {pid}) has delivered nothing for {now - since:.1f} s "
                              f"while holding {self._outstanding[wid]} batch(es); it may be hung in the dataset "
                              f"or collate_fn (BLAZE_DATALOADER_WATCHDOG={self._watchdog:g} s; pass timeout= "
                              "to raise instead)", RuntimeWarning, stacklevel=4)

    def __next__(self):
        while True:
            if self._finished:
                raise StopIteration
            # skip turns that belonged to workers whose stream has ended
            while self._rcvd_idx < self._send_idx and self._rcvd_idx not in self._ready \
                    and not self._active[self._task_worker[self._rcvd_idx]]:
                del self._task_worker[self._rcvd_idx]
                self._rcvd_idx += 1
            if self._rcvd_idx >= self._send_idx:
                self._shutdown()
                raise StopIteration
            if self._rcvd_idx in self._ready:
                return self._deliver(self._ready.pop(self._rcvd_idx))
            idx, data = self._get_result()
            wid = self._task_worker[idx]
            self._outstanding[wid] -= 1
            if isinstance(data, _worker.IterableEnd):
                self._active[data.worker_id] = False
                del self._task_worker[idx]
                if idx == self._rcvd_idx:
                    self._rcvd_idx += 1
                else:
                    self._ready[idx] = None  # placeholder: an empty turn
                self._try_put_task()
                continue
            if idx != self._rcvd_idx:
                self._ready[idx] = data
                continue
            return self._deliver(data)

    def _deliver(self, data):
        self._task_worker.pop(self._rcvd_idx, None)
        self._rcvd_idx += 1
        if data is None:  # an ended stream's turn, see above
            return self.__next__()
        self._try_put_task()
        if isinstance(data, _worker.ExceptionWrapper):
            self._shutdown()
            data.reraise()
        return _worker.unpack(data)

    def _shutdown(self, force: bool = False):
        if self._finished:
            return
        self._finished = True
        if force or not self._loader.persistent_workers:
            self._pool.shutdown(force)
            if self._loader._pool is self._pool:
                self._loader._pool = None

    def __del__(self):
        try:
            self._shutdown()
        except Exception:
            pass
