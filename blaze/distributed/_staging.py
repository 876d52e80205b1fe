"""A tensor's bytes as a flat host array: its own memory on cpu, a staged copy for cuda.

cpu tensors are never copied: MPI reads and writes their NumPy buffer directly. A cuda
tensor that cannot go through NCCL is copied to the host, moved by MPI and copied back:
correct but slow (two PCIe copies per collective), so it warns once per process.
"""
from __future__ import annotations

import warnings

import numpy as np

_WARNED = []


def staged_reason() -> str:
    from . import _nccl
    return _nccl.unavailable_reason() or "the process group's backend has no NCCL"


def _warn_staged():
    if not _WARNED:
        _WARNED.append(True)
        warnings.warn(f"blaze.distributed: cuda tensors are staged through host memory and MPI because "
                      f"{staged_reason()}; this is correct but slow (a device-host copy each way per "
                      f"collective)", RuntimeWarning, stacklevel=4)


class HostView:
    """``a``: the tensor's elements as a flat host array; ``commit()`` publishes writes to ``a``."""

    __slots__ = ("t", "a", "staged")

    def __init__(self, t, read: bool = True):
        self.t = t
        data = t._data
        if t._device.type == "cpu":
            self.a = data.reshape(-1)  # a view: the callers checked contiguity
            self.staged = False
        else:
            _warn_staged()
            self.a = t._device.backend.to_numpy(data).reshape(-1) if read else np.empty(t.numel(), t.dtype.np)
            self.staged = True

    def commit(self) -> None:
        t = self.t
        t._version[0] += 1
        if self.staged:
            t._device.backend.assign(t._data, self.a.reshape(t._data.shape))


def host_view(t, read: bool = True) -> HostView:
    return HostView(t, read)


def to_host(t) -> np.ndarray:
    """The tensor's elements in a contiguous host array (a copy for cuda tensors)."""
    return HostView(t).a
