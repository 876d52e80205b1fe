"""``GradScaler`` for float16 training, as ``torch.cuda.amp.GradScaler`` / ``torch.amp.GradScaler``.

The loss is multiplied by ``scale`` so small fp16 gradients don't flush to zero;
``unscale_`` divides the gradients back and records whether any is inf/NaN; ``step``
skips the optimizer step on such an iteration and ``update`` halves the scale then (or
doubles it after ``growth_interval`` clean steps). The inf check reduces every gradient
on the device and reads back one bool per ``step``: the one host sync an fp16 step needs
(PyTorch makes the same one in ``step``).
"""
from __future__ import annotations


class GradScaler:
    """Dynamic loss scaling.

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
            from .. import cat
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


def autocast(enabled: bool = True, dtype=None, cache_enabled=None):
    """``torch.cuda.amp.autocast``: :class:`blaze.autocast` with ``device_type="cuda"`` (default float16)."""
    from ..amp import autocast as _autocast
    from ..dtypes import float16
    return _autocast("cuda", float16 if dtype is None else dtype, enabled)


__all__ = ["GradScaler", "autocast"]
