"""Grad mode: whether ops record a graph. Context managers that double as decorators."""
from __future__ import annotations

import functools

# One mutable cell read on every op: a list index is the cheapest global read we have.
_state = [True]


def is_grad_enabled() -> bool:
    return _state[0]


class _GradModeContext:
    _mode = True

    def __enter__(self):
        self._prev = _state[0]
        _state[0] = self._mode

    def __exit__(self, *exc):
        _state[0] = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Disable graph recording (context manager or decorator), like ``torch.no_grad``."""
    _mode = False


class enable_grad(_GradModeContext):
    """Enable graph recording inside a ``no_grad`` region."""
    _mode = True


class inference_mode(_GradModeContext):
    """Like ``no_grad``; blaze has no separate inference-tensor kind (see README)."""

    def __init__(self, mode: bool = True):
        self._mode = not mode

    def __call__(self, fn=None):
        if fn is None or isinstance(fn, bool):
            return self
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _state[0]
            _state[0] = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _state[0] = prev
        return wrapper


class set_grad_enabled(_GradModeContext):
    """Set grad mode on or off; takes effect at once, and as a context restores it on exit."""

    def __init__(self, mode: bool):
        self._prev = _state[0]
        self._mode = bool(mode)
        _state[0] = self._mode

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _state[0] = self._prev
        return False

    def __call__(self, fn):
        _state[0] = self._prev
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper
