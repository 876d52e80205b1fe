"""Backends: one named set of primitives per device (NumPy on "cpu", Triton on "cuda").

Ops in ``blaze.ops`` are written once against this interface; only the primitives differ
per device. The CPU backend is the reference the Triton kernels are tested against.
"""
from __future__ import annotations

_BACKENDS: dict = {}


def get_backend(dev):
    """The backend for a ``blaze.device``; the cuda backend loads on first use."""
    be = _BACKENDS.get(dev.type)
    if be is None:
        if dev.type == "cpu":
            from .cpu.backend import NumpyBackend
            be = _BACKENDS["cpu"] = NumpyBackend()
        else:
            be = _BACKENDS[dev.type] = _load_cuda()
    return be


def _load_cuda():
    try:
        from .cuda.backend import TritonBackend
    except ImportError as e:
        raise RuntimeError(f"the cuda device needs Triton (pip install triton) and an NVIDIA GPU, or "
                           f"TRITON_INTERPRET=1 for the emulated device; importing it failed: {e}") from None
    return TritonBackend()
