"""What runs inside a DataLoader worker process, and the seeding shared with the main process.

Reproducibility rule: the loader draws one ``base_seed`` per epoch from its generator. Map-style
batch number ``b`` (counted from 0 within the epoch) is fetched -- in whichever process fetches
it -- with blaze's default generator, Python's ``random`` and NumPy's legacy global RNG all
seeded to ``base_seed + b``. So the same seed gives the same batches and the same random
transform draws for ANY ``num_workers``. In the main process (``num_workers=0``) the three RNG
states are saved before and restored after each fetch, so iterating a loader draws nothing
from the user's RNG streams except the one base seed per epoch.

Iterable-style datasets have no global batch numbering; each worker is seeded once per epoch
with ``base_seed + worker_id`` (torch's rule), and ``num_workers=0`` leaves the RNGs alone.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

import blaze

# an idle worker checks every 5 s whether its parent is still alive (orphans exit)
_IDLE_POLL_S = 5.0

_worker_info = None


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` returns inside a worker process."""

    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info() -> WorkerInfo | None:
    """Inside a DataLoader worker: its id, the worker count, its seed and its dataset copy.

    In the main process: None. Use it in ``IterableDataset.__iter__`` to shard the stream.
    """
    return _worker_info


def seed_all(seed: int) -> None:
    """Seed blaze's default generator, Python's ``random`` and NumPy's legacy global RNG."""
    blaze.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _get_blaze_state():
    if hasattr(blaze, "get_rng_state") and hasattr(blaze, "set_rng_state"):
        return ("api", blaze.get_rng_state())
    return ("numpy", blaze.initial_seed(), blaze.random.numpy_rng(None).bit_generator.state)


def _set_blaze_state(saved) -> None:
    if saved[0] == "api":
        blaze.set_rng_state(saved[1])
        return
    blaze.manual_seed(saved[1])
    blaze.random.numpy_rng(None).bit_generator.state = saved[2]


@contextlib.contextmanager
def seeded(seed: int, restore: bool):
    """Run a block with all RNGs seeded to ``seed``; put the previous states back if ``restore``."""
    if restore:
        saved = (_get_blaze_state(), random.getstate(), np.random.get_state())
    seed_all(seed)
    try:
        yield
    finally:
        if restore:
            _set_blaze_state(saved[0])
            random.setstate(saved[1])
            np.random.set_state(saved[2])


class ExceptionWrapper:
    """An exception caught in a worker, carried to the main process as type name + traceback text."""

    def __init__(self, where: str):
        exc_type, exc, _ = sys.exc_info()
        self.type_name = exc_type.__name__
        try:  # a class defined inside a function cannot travel; its name and traceback still do
            pickle.dumps(exc_type)
            self.exc_type = exc_type
        except Exception:
            self.exc_type = RuntimeError
        self.where = where
        self.text = "".join(traceback.format_exception(exc_type, exc, exc.__traceback__))

    def reraise(self):
        msg = f"Caught {self.type_name} {self.where}.\nOriginal {self.text}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)
        try:
            err = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise err


class _KeyErrorMessage(str):
    """KeyError shows repr() of its message; this keeps the traceback's newlines readable."""

    def __repr__(self):
        return self


class IterableEnd:
    """A worker's iterable dataset is exhausted for this epoch."""

    def __init__(self, worker_id: int):
        self.worker_id = worker_id


# ---- moving batches between processes: tensors travel as NumPy arrays --------------------

class _PackedTensor:
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


def pack(obj):
    """Replace blaze tensors in a nested batch by NumPy arrays that pickle cheaply."""
    if isinstance(obj, blaze.Tensor):
        t = obj.cpu() if hasattr(obj, "cpu") else obj
        return _PackedTensor(t.numpy())
    return _map_containers(obj, pack)


def unpack(obj):
    """Inverse of :func:`pack`, in the main process (``blaze.from_numpy`` shares the memory)."""
    if isinstance(obj, _PackedTensor):
        return blaze.from_numpy(obj.array)
    return _map_containers(obj, unpack)


def _map_containers(obj, fn):
    if isinstance(obj, dict):
        out = {k: fn(v) for k, v in obj.items()}
        return out if type(obj) is dict else _rebuild(obj, out)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(fn(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        out = [fn(v) for v in obj]
        return out if type(obj) is list else _rebuild(obj, out)
    return obj


def _rebuild(obj, items):
    try:
        return type(obj)(items)
    except TypeError:
        return items


# ---- the worker process ------------------------------------------------------------------

def fetch(dataset, indices, auto_collation, collate_fn):
    """Map-style: the samples at ``indices`` (a list, or one index without batching), collated."""
    if auto_collation:
        return collate_fn([dataset[i] for i in indices])
    return collate_fn(dataset[indices])


def fetch_iterable(it, auto_collation, batch_size, drop_last, collate_fn):
    """Iterable-style: the next batch from iterator ``it``; raises StopIteration at the end."""
    if not auto_collation:
        return collate_fn(next(it))
    items = []
    for item in it:
        items.append(item)
        if len(items) == batch_size:
            break
    if not items or (drop_last and len(items) < batch_size):
        raise StopIteration
    return collate_fn(items)


def worker_loop(dataset, is_iterable, index_queue, result_conn, collate_fn, auto_collation, batch_size,
                drop_last, worker_id, num_workers, base_seed, init_fn, foreign_readers=()):
    """Serve tasks ``(epoch, send_idx, seed, indices)`` until a ``None`` task or an orphaned parent.

    Each answer is one pickled ``(epoch, send_idx, result)`` sent on ``result_conn``; pickling
    here turns an unpicklable batch into an error the main process sees.
    """
    global _worker_info
    for conn in foreign_readers:
        conn.close()
    parent = os.getppid()
    seed = base_seed + worker_id
    seed_all(seed)
    _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
    where = f"in DataLoader worker process {worker_id}"
    init_error = None
    if init_fn is not None:
        try:
            init_fn(worker_id)
        except Exception:
            init_error = ExceptionWrapper(where + " (worker_init_fn)")
    it, it_epoch = None, None
    while True:
        try:
            task = index_queue.get(timeout=_IDLE_POLL_S)
        except queue.Empty:
            if os.getppid() != parent:
                return
            continue
        if task is None:
            return
        epoch, send_idx, task_seed, indices = task
        try:
            if init_error is not None:
                result = init_error
            elif is_iterable:
                if it_epoch != epoch:  # new epoch: fresh iterator, reseeded as torch does
                    seed_all(task_seed + worker_id)
                    it, it_epoch = iter(dataset), epoch
                try:
                    result = pack(fetch_iterable(it, auto_collation, batch_size, drop_last, collate_fn))
                except StopIteration:
                    result = IterableEnd(worker_id)
            else:
                seed_all(task_seed)
                result = pack(fetch(dataset, indices, auto_collation, collate_fn))
        except Exception:
            result = ExceptionWrapper(where)
        try:
            payload = pickle.dumps((epoch, send_idx, result), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            payload = pickle.dumps((epoch, send_idx, ExceptionWrapper(where + " (pickling the batch)")))
        try:
            result_conn.send_bytes(payload)
        except OSError:  # the main process closed its end (shutdown) or is gone
            return
