"""Shared-memory storage for CPU tensors: ``Tensor.share_memory_()`` and ``Tensor.is_shared()``.

(Passing such a tensor to another process *by handle* is ``blaze.multiprocessing``'s part:
importing it registers the reducers, as ``import torch.multiprocessing`` does.)

A shared tensor's array lives in a ``_SharedMap``: an ``mmap`` (MAP_SHARED) of an anonymous
memory file (``memfd_create`` on Linux; elsewhere a temporary file unlinked as soon as it is
open). The file has no name anywhere, so nothing can leak into /dev/shm: the kernel frees
the memory when the last process holding a mapping or a descriptor of it lets go, which is
PyTorch's "file_descriptor" sharing strategy. Another process gets a *duplicate descriptor*
(``multiprocessing.reduction.DupFd``: inherited at spawn, or passed over a Unix socket for a
Queue) and maps the same pages, so a write in one process is seen by all of them.
"""
from __future__ import annotations

import mmap
import os
import tempfile
import weakref

import numpy as np


class _SharedMap(mmap.mmap):
    """A MAP_SHARED mapping that keeps the descriptor it came from (to hand it to other processes)."""


def _anonymous_file() -> int:
    if hasattr(os, "memfd_create"):
        return os.memfd_create("blaze_shared", os.MFD_CLOEXEC)
    fd, path = tempfile.mkstemp(prefix="blaze_shared_", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.unlink(path)  # only the descriptor and the mappings keep the memory alive from here on
    return fd


# (st_dev, st_ino) of a memory file -> this process's map of it, so a storage that comes back
# (sent to a child and returned) reuses the map even when its sender has exited since.
_MAPS: "weakref.WeakValueDictionary[tuple, _SharedMap]" = weakref.WeakValueDictionary()


def file_key(fd: int) -> tuple:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def mapped(key: tuple):
    return _MAPS.get(key)


def open_map(fd: int, nbytes: int) -> _SharedMap:
    """Map ``nbytes`` of the memory file ``fd``; the map owns ``fd`` and closes it when collected."""
    try:
        if os.fstat(fd).st_size < nbytes:
            raise ValueError(f"shared storage of {nbytes} bytes is backed by a smaller file")
        m = _SharedMap(fd, nbytes, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        key = file_key(fd)
    except BaseException:
        os.close(fd)
        raise
    m.fd, m.key = fd, key
    weakref.finalize(m, os.close, fd)
    _MAPS.setdefault(key, m)
    return m


def new_map(nbytes: int) -> _SharedMap:
    fd = _anonymous_file()
    try:
        os.ftruncate(fd, nbytes)
    except BaseException:
        os.close(fd)
        raise
    return open_map(fd, nbytes)


def _address(a) -> int:
    return a.__array_interface__["data"][0]


def map_of(a: np.ndarray):
    """The ``_SharedMap`` under ``a`` and ``a``'s byte offset into it, or ``(None, 0)``."""
    b = a
    while isinstance(b, np.ndarray):
        b = b.base
    if not isinstance(b, _SharedMap) or b.closed:
        return None, 0
    return b, _address(a) - _address(np.frombuffer(b, np.uint8))


def array_in(m: _SharedMap, np_dtype, shape, strides, offset: int) -> np.ndarray:
    """An array over ``m`` after checking that every element it can reach lies inside the mapping."""
    np_dtype = np.dtype(np_dtype)
    if 0 in tuple(shape):
        return np.ndarray(tuple(shape), np_dtype, buffer=m, offset=0)  # reaches no element
    lo = hi = offset
    for n, s in zip(shape, strides):
        lo, hi = (lo + (n - 1) * s, hi) if s < 0 else (lo, hi + (n - 1) * s)
    if lo < 0 or hi + np_dtype.itemsize > len(m):
        raise ValueError(f"shared tensor of shape {tuple(shape)} and strides {tuple(strides)} at byte offset "
                         f"{offset} does not fit in its {len(m)}-byte shared storage")
    return np.ndarray(tuple(shape), np_dtype, buffer=m, offset=offset, strides=tuple(strides))


def _span(a: np.ndarray):
    lo, hi = np.lib.array_utils.byte_bounds(a)
    return lo, max(hi - lo, 1)


def is_shared(t) -> bool:
    return t._device.type == "cpu" and map_of(t._data)[0] is not None


def _move(t, m, lo: int) -> None:
    """Re-point ``t`` at the same elements in ``m``, whose byte 0 stands for address ``lo`` of the old memory."""
    a = t._data
    t._data = array_in(m, a.dtype, a.shape, a.strides, _address(a) - lo)


def share_memory_(t):
    """Move ``t``'s elements into shared memory in place.

    For a view, its base's whole memory moves and so do the views between ``t`` and the base
    (PyTorch moves the storage, so every view follows; blaze's views hold their own arrays, so
    other views of the same base made earlier keep the old memory).
    """
    if t._device.type != "cpu" or is_shared(t):
        # cuda: blaze shares no device memory between processes (no CUDA IPC); a cuda tensor
        # sent to another process is copied. PyTorch documents share_memory_ as a no-op there too.
        return t
    chain, base = [t], t._base
    if base is not None and not is_shared(base):
        views, p = [t], getattr(t, "_view_parent", None)
        while p is not None and p is not base:
            views.append(p)
            p = getattr(p, "_view_parent", None)
        b_lo, b_n = _span(base._data)
        if all(b_lo <= lo and lo + n <= b_lo + b_n for lo, n in (_span(v._data) for v in views)):
            chain = views + [base]
    lo, n = _span(chain[-1]._data)
    m = new_map(n)
    old = chain[-1]._data
    _move(chain[-1], m, lo)
    chain[-1]._data[...] = old
    for c in chain[:-1]:
        _move(c, m, lo)
    return t


def share_all_(tensors) -> None:
    """``share_memory_`` for many tensors at once, packed into one storage where they are not views.

    One storage per module instead of one per tensor: each storage holds two descriptors per
    process (ours, to pass on, and the one ``mmap`` keeps), and ResNet-50's 320 parameters
    and buffers would otherwise hold 640 of a default limit of 1024.
    """
    seen, pack = set(), []
    for t in tensors:
        if id(t) in seen or t._device.type != "cpu" or is_shared(t):
            continue
        seen.add(id(t))
        if t._base is None:
            pack.append(t)
        else:
            share_memory_(t)
    offsets, total = [], 0
    for t in pack:
        lo, n = _span(t._data)
        offsets.append((total, lo))
        total += -(-n // 64) * 64  # 64-byte aligned, as NumPy's own allocations
    if not pack:
        return
    m = new_map(total)
    for t, (start, lo) in zip(pack, offsets):
        old = t._data
        t._data = array_in(m, old.dtype, old.shape, old.strides, start + _address(old) - lo)
        t._data[...] = old
