"""Grad mode: whether ops record a graph. Context managers that double as decorators.

The mode is per thread, as in PyTorch: a ``no_grad`` block in an evaluation thread leaves a
training thread beside it recording, and every new thread starts with gradients on.
"""
from __future__ import annotations

import functools
import threading


class _GradState(threading.local):
    # A class attribute is the default every thread sees until it sets its own.
    enabled = True
    inference = False  # inside inference_mode(True): torch.is_inference_mode_enabled()


# Read on every op as ``_state.enabled``: 55 ns against 23 ns for the old process-wide list cell
# (python 3.11, timeit, 5M reads); a 4-element add stays 2.5 us under no_grad, 3.8 us recording.
_state = _GradState()


def is_grad_enabled() -> bool:
    return _state.enabled


class _GradModeContext:
    _mode = True

    def __enter__(self):
        self._prev = _state.enabled
        _state.enabled = self._mode

    def __exit__(self, *exc):
        _state.enabled = self._prev
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

    def __enter__(self):
        self._prev_inference = _state.inference
        _state.inference = not self._mode
        super().__enter__()

    def __exit__(self, *exc):
        _state.inference = self._prev_inference
        return super().__exit__(*exc)

    def __call__(self, fn=None):
        if fn is None or isinstance(fn, bool):
            return self
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(not mode):
                return fn(*args, **kwargs)
        return wrapper


class set_grad_enabled(_GradModeContext):
    """Set grad mode on or off; takes effect at once, and as a context restores it on exit."""

    def __init__(self, mode: bool):
        self._prev = _state.enabled
        self._mode = bool(mode)
        _state.enabled = self._mode

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False

    def __call__(self, fn):
        _state.enabled = self._prev
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper
