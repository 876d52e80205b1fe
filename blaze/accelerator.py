"""``blaze.accelerator``: the device-agnostic accelerator API, as ``torch.accelerator``.

blaze has one accelerator type, "cuda", with one device (index 0). It counts as available
exactly when ``blaze.cuda.is_available()`` does: a real NVIDIA GPU. The emulated cuda device
(TRITON_INTERPRET=1) is not reported, so a script that picks
``blaze.accelerator.current_accelerator()`` when available stays on the fast NumPy path
there, as it would with PyTorch on a CPU machine.
"""
from __future__ import annotations

import contextlib

from . import cuda as _cuda
from .device import device as _device


def is_available() -> bool:
    """True when an accelerator device can be used (a real GPU)."""
    return _cuda.is_available()


def device_count() -> int:
    """Number of accelerator devices available (0 without one)."""
    return _cuda.device_count() if is_available() else 0


def current_accelerator(check_available: bool = False):
    """``blaze.device("cuda")`` when blaze can use a GPU here, else None (``check_available`` is the same check)."""
    return _device("cuda") if is_available() else None


def _require():
    if not is_available():
        raise RuntimeError("blaze.accelerator: no accelerator is available on this machine")


def _index(device) -> int:
    """The cuda index of ``device`` (an int, "cuda:i", a device; None: 0). Also used by nn.DataParallel."""
    if device is None:
        return 0
    if isinstance(device, int):
        return device
    d = _device(device)
    if d.type != "cuda":
        raise ValueError(f"Expected a cuda device, but got: {d}")
    return d.index or 0


def current_device_index() -> int:
    """Index of the current accelerator device (always 0: blaze drives one GPU per process)."""
    _require()
    return _cuda.current_device()


def set_device_index(device) -> None:
    """Make ``device`` (an index, "cuda:i" or a device) current; blaze supports index 0 only."""
    _require()
    _cuda.set_device(_index(device))


current_device_idx = current_device_index  # PyTorch's earlier names
set_device_idx = set_device_index


@contextlib.contextmanager
def device_index(device):
    """``with blaze.accelerator.device_index(0):`` — run a block with ``device`` current (None: no change)."""
    if device is not None:
        set_device_index(device)
    yield


def current_stream(device=None):
    _require()
    return _cuda.current_stream(_index(device))


def set_stream(stream) -> None:
    """blaze queues all work on one stream per device, so every stream is already the current one."""
    _require()


def synchronize(device=None) -> None:
    """Wait until all work queued on the accelerator has finished (raising any error a kernel reported)."""
    _require()
    _cuda.synchronize(_index(device))


__all__ = ["current_accelerator", "current_device_idx", "current_device_index", "current_stream", "device_count",
           "device_index", "is_available", "set_device_idx", "set_device_index", "set_stream", "synchronize"]
