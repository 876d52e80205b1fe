"""Automatic mixed precision: ``blaze.autocast`` and ``GradScaler``, as ``torch.autocast`` / ``torch.amp``.

Inside ``with blaze.autocast(device_type="cuda", dtype=blaze.bfloat16):`` the ops on
PyTorch's "lower precision" list (matmul, linear, conv, attention) cast their floating
inputs to the autocast dtype, and the ops on its "float32" list (softmax, log_softmax,
norms, losses, reductions like sum/mean of low-precision tensors are left as they are)
compute in float32. The state is thread-local and read by those few ops through
:func:`autocast_dtype` / :func:`cast_inputs` / :func:`cast_fp32`; outside an autocast
region they cost one attribute read.

Example::

    with blaze.autocast(device_type="cuda", dtype=blaze.bfloat16):
        loss = F.cross_entropy(model(x), y)   # matmuls in bf16, the loss in fp32
    loss.backward()
"""
from __future__ import annotations

import functools
import threading

from . import dtypes as _dt

_state = threading.local()
_DEFAULT_DTYPE = {"cuda": _dt.bfloat16, "cpu": _dt.bfloat16}


def _stack():
    s = getattr(_state, "stack", None)
    if s is None:
        s = _state.stack = []
    return s


class autocast:  # noqa: N801 - PyTorch's name
    """Context manager / decorator running eligible ops in ``dtype`` on ``device_type``.

    Args:
        device_type: "cuda" or "cpu".
        dtype: blaze.bfloat16 (default) or blaze.float16.
        enabled: False makes the region run at full precision (nesting can switch it off).
        cache_enabled: accepted for PyTorch compatibility (casts are not cached).
    """

    def __init__(self, device_type: str = "cuda", dtype=None, enabled: bool = True, cache_enabled=None):
        if device_type not in _DEFAULT_DTYPE:
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
        dtype = _DEFAULT_DTYPE[device_type] if dtype is None else dtype
        if dtype not in (_dt.bfloat16, _dt.float16):
            raise RuntimeError(f"In autocast, but the target dtype is not supported: {dtype} "
                               "(supported: blaze.bfloat16, blaze.float16)")
        self.device_type, self.fast_dtype, self.enabled = device_type, dtype, bool(enabled)

    def __enter__(self):
        _stack().append((self.device_type, self.fast_dtype if self.enabled else None))
        return self

    def __exit__(self, *exc):
        _stack().pop()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*a, **k):
            with autocast(self.device_type, self.fast_dtype, self.enabled):
                return fn(*a, **k)
        return wrapped


def autocast_dtype(device):
    """The autocast dtype active for ``device`` (a blaze.device or type string), or None."""
    s = getattr(_state, "stack", None)
    if not s:
        return None
    kind = device if isinstance(device, str) else device.type
    for dev_type, dtype in reversed(s):
        if dev_type == kind:
            return dtype
    return None


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    return autocast_dtype(device_type) is not None


def cast_inputs(*tensors):
    """For a lower-precision op (matmul, linear, conv, attention): floating tensors cast to the
    autocast dtype of their device; non-tensors and None pass through. Casts are differentiable."""
    if not _state.__dict__.get("stack"):  # outside autocast: one thread-local dict read
        return tensors
    from .tensor import Tensor
    dev = next((t.device for t in tensors if isinstance(t, Tensor)), None)
    dt = autocast_dtype(dev) if dev is not None else None
    if dt is None:
        return tensors
    return tuple(t.to(dt) if isinstance(t, Tensor) and t.dtype.is_floating_point and t.dtype is not dt else t
                 for t in tensors)


def cast_fp32(*tensors):
    """For a float32-list op (softmax, norms, losses): half/bfloat16 tensors cast up inside autocast."""
    if not _state.__dict__.get("stack"):  # outside autocast: one thread-local dict read
        return tensors
    from .tensor import Tensor
    dev = next((t.device for t in tensors if isinstance(t, Tensor)), None)
    if dev is None or autocast_dtype(dev) is None:
        return tensors
    return tuple(t.float() if isinstance(t, Tensor) and t.dtype in (_dt.bfloat16, _dt.float16) else t
                 for t in tensors)


def __getattr__(name):
    if name == "GradScaler":
        from .cuda.amp import GradScaler
        return GradScaler
    raise AttributeError(f"module 'blaze.amp' has no attribute {name!r}")
