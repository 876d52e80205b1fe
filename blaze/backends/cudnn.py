"""``torch.backends.cudnn``: blaze has no cuDNN; its own kernels honour these flags.

``deterministic`` is blaze's deterministic switch (also set by code that sets cuDNN's): the
conv, attention (dQ in its own pass, no atomics), norm and pooling backward kernels always sum
in a fixed order; with it set, the cuda embedding backward takes the NumPy path (one counted
host round trip) instead of fp32 atomic adds. ``benchmark`` and ``enabled`` are kept for code
that sets them: configs come from the tuning cache (``blaze tune``) either way. There is no
separate ``allow_tf32`` here: the conv kernels follow ``blaze.backends.cuda.matmul.allow_tf32``.
"""
from __future__ import annotations

from ._flagmodule import flag_property, install


def is_available() -> bool:
    """False: blaze runs Triton kernels, never cuDNN."""
    return False


def version():
    return None


install(__name__, {
    "benchmark": flag_property("benchmark", "as torch.backends.cudnn.benchmark (default False)"),
    "deterministic": flag_property("deterministic", "fixed-order sums where blaze has a choice"),
    "enabled": flag_property("cudnn_enabled", "as torch.backends.cudnn.enabled (default True)"),
})
