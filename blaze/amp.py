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
    from ._tensor import Tensor
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
    from ._tensor import Tensor
    dev = next((t.device for t in tensors if isinstance(t, Tensor)), None)
    if dev is None or autocast_dtype(dev) is None:
        return tensors
    return tuple(t.float() if isinstance(t, Tensor) and t.dtype in (_dt.bfloat16, _dt.float16) else t
                 for t in tensors)


class GradScaler:
    """Dynamic loss scaling (``torch.amp.GradScaler``).

    The loss is multiplied by ``scale`` so small fp16 gradients don't flush to zero;
    ``unscale_`` divides the gradients back and records whether any is inf/NaN; ``step``
    skips the optimizer step on such an iteration and ``update`` halves the scale then (or
    doubles it after ``growth_interval`` clean steps). The inf check reduces every gradient
    on the device and reads back one bool per ``step``: the one host sync an fp16 step needs
    (PyTorch makes the same one in ``step``).

    Args:
        init_scale: first scale (65536). growth_factor / backoff_factor: multiply the
            scale by these after ``growth_interval`` clean steps / after an overflow.
        enabled: False makes every method a pass-through.
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        if growth_factor <= 1.0:
            raise ValueError("The growth factor must be > 1.0.")
        if backoff_factor >= 1.0:
            raise ValueError("The backoff factor must be < 1.0.")
        self._scale = float(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._enabled = bool(enabled)
        self._per_opt = {}  # id(optimizer) -> {"unscaled": bool, "found_inf": bool}

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def scale(self, outputs):
        """``outputs * scale`` (a tensor or a nested list/tuple of tensors)."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        return outputs * self._scale

    def _state(self, optimizer):
        return self._per_opt.setdefault(id(optimizer), {"unscaled": False, "found_inf": False})

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale in place and record inf/NaN."""
        if not self._enabled:
            return
        st = self._state(optimizer)
        if st["unscaled"]:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        inv = 1.0 / self._scale
        flags = []
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                g.mul_(inv)
                # not finite anywhere -> one bool per gradient, combined on the device
                flags.append((~g.isfinite()).any().reshape(1))
        if flags:
            from .ops.movement import cat
            st["found_inf"] = bool(cat(flags).any().item())  # the step's one host sync
        st["unscaled"] = True

    def step(self, optimizer, *args, **kwargs):
        """Unscale (if not done), then ``optimizer.step()`` unless a gradient overflowed."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        st = self._state(optimizer)
        if not st["unscaled"]:
            self.unscale_(optimizer)
        if st["found_inf"]:
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None) -> None:
        """Back off after an overflow, grow after ``growth_interval`` clean steps; reset per-step state."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if hasattr(new_scale, "item") else new_scale)
        else:
            found = any(s["found_inf"] for s in self._per_opt.values())
            if found:
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale *= self._growth_factor
                    self._growth_tracker = 0
        self._per_opt.clear()

    def state_dict(self) -> dict:
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state: dict) -> None:
        if not state:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        self._scale = float(state["scale"])
        self._growth_factor = float(state["growth_factor"])
        self._backoff_factor = float(state["backoff_factor"])
        self._growth_interval = int(state["growth_interval"])
        self._growth_tracker = int(state["_growth_tracker"])
