"""Process-wide switches and counters that every layer may read; this module imports nothing.

The public faces are ``blaze.backends`` (PyTorch's flag namespace: ``cudnn.deterministic``,
``cuda.matmul.allow_tf32``, ...) and ``blaze.devices.cuda.backend.FALLBACKS``; kernels,
devices and optimizers read the values here so no layer imports a higher one for a global.
"""
from __future__ import annotations

from collections import Counter

# torch.backends.cuda.matmul.allow_tf32: off by default since PyTorch 1.12 (TF32 keeps 10
# mantissa bits, so fp32 matmuls lose ~3 decimal digits).
allow_tf32: bool = False
# torch.backends.cudnn.deterministic: where blaze has a choice, pick the path whose sum order
# is fixed (the cuda embedding backward adds duplicate ids with fp32 atomics otherwise).
deterministic: bool = False
# torch.backends.cudnn.benchmark / .enabled: kept for code that sets them; blaze's kernels
# pick configs from the tuning cache (``blaze tune``) whatever their value.
benchmark: bool = False
cudnn_enabled: bool = True

# blaze.profiler's recorder while a profile records, else None: Function.apply, host<->device
# copies and host round trips test this one global, so a run without a profiler pays one check.
profiler = None


class _RoundTrips(Counter):
    """A Counter that also reports each increment to the active profiler (a round trip is rare:
    the check costs nothing on the hot paths, which have none)."""

    def __setitem__(self, key, value):
        if profiler is not None and value > self.get(key, 0):
            profiler.instant(f"host round trip: {key}", "round_trip")
        super().__setitem__(key, value)


# Host round trips on the cuda device, by primitive name; tests assert the hot paths add none.
FALLBACKS: Counter = _RoundTrips()

# Set while the cuda backend uploads a constant built from an op's arguments alone (arange,
# linspace): a CUDA graph capture replays such an upload (blaze/cuda/graphs.py) instead of
# refusing it as it refuses other host-to-device copies, whose source may change between replays.
constant_upload: list = [False]
