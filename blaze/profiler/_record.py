"""The recorder behind ``blaze.profiler.profile``: ranges on the host clock, kernel launches, copies.

While a profile records, ``blaze._flags.profiler`` holds a ``Recorder``; the host<->device
copies and the host-round-trip counter report to it, and two entry points are wrapped for the
recording's duration: ``Function.apply`` (every op) and Triton's launch entry point
(``JITFunction.run`` and, under ``TRITON_INTERPRET=1``, ``InterpretedFunction.run``), so every
kernel launch in the process is seen at one point, whichever launcher called it. When nothing
records, none of this code runs: ops and launches call the originals, and copies test
``_flags.profiler is None``.
"""
from __future__ import annotations

import os
import sys
import threading
import time

from .. import _flags

_clock = time.perf_counter_ns
_BLAZE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Event:
    """One recorded range (``ph == "X"``) or instant (``ph == "i"``); times in ns of the host clock."""

    __slots__ = ("name", "cat", "start", "end", "device_ns", "shapes", "args", "parent", "children_ns",
                 "tid", "stack", "_cuda")

    def __init__(self, name, cat, start, parent, tid, shapes=None, args=None):
        self.name, self.cat, self.start, self.end = name, cat, start, start
        self.parent, self.tid, self.shapes, self.args = parent, tid, shapes, args
        self.device_ns = None
        self.children_ns = 0
        self.stack = None
        self._cuda = None

    @property
    def duration_ns(self) -> int:
        return self.end - self.start

    @property
    def self_ns(self) -> int:
        return self.end - self.start - self.children_ns

    def __repr__(self) -> str:
        return f"<Event {self.cat} {self.name!r} {self.duration_ns / 1e3:.1f}us>"


def _shape_of(x):
    shape = getattr(x, "shape", None)
    if shape is None or isinstance(x, type):
        return []
    try:
        return [int(d) for d in shape]
    except TypeError:
        return []


def _caller():
    """file:line of the first frame outside blaze (with_stack=True)."""
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith(_BLAZE_DIR):
        f = f.f_back
    return [] if f is None else [f"{f.f_code.co_filename}({f.f_lineno}): {f.f_code.co_name}"]


class Recorder:
    """Collects events; one is active at a time (``_flags.profiler``)."""

    def __init__(self, record_shapes=False, with_stack=False, cuda=True, device_events=False):
        self.record_shapes, self.with_stack, self.cuda = record_shapes, with_stack, cuda
        self.events: list[Event] = []
        self._local = threading.local()
        self._device_events = device_events  # a real GPU: time kernels with CUDA events
        self._patched: list = []

    # -- ranges -----------------------------------------------------------------------------
    def _stack(self):
        st = getattr(self._local, "stack", None)
        if st is None:
            st = self._local.stack = []
        return st

    def begin(self, name, cat, shapes=None, args=None) -> Event:
        st = self._stack()
        ev = Event(name, cat, 0, st[-1] if st else None, threading.get_ident(), shapes, args)
        if self.with_stack:
            ev.stack = _caller()
        self.events.append(ev)
        st.append(ev)
        ev.start = _clock()
        return ev

    def end(self, ev: Event) -> None:
        ev.end = _clock()
        st = self._stack()
        while st and st.pop() is not ev:  # an exception skipped inner ends: close them here
            pass
        if ev.parent is not None:
            ev.parent.children_ns += ev.end - ev.start

    def instant(self, name, cat, **args) -> None:
        st = self._stack()
        ev = Event(name, cat, _clock(), st[-1] if st else None, threading.get_ident(), None, args or None)
        self.events.append(ev)

    def timed(self, name, cat, fn, *a, **args):
        ev = self.begin(name, cat, args=args or None)
        try:
            return fn(*a)
        finally:
            self.end(ev)

    # -- hooks --------------------------------------------------------------------------------
    def op(self, cls, args, kwargs):
        """Function.apply under the profiler: one "op" range around the op (kernels nest inside)."""
        shapes = [_shape_of(a) for a in args] if self.record_shapes else None
        name = cls.__name__.lstrip("_")
        ev = self.begin(name, "op", shapes)
        try:
            return cls._apply(*args, **kwargs)
        finally:
            self.end(ev)

    def kernel(self, fn, run, jit, args, grid, warmup, kwargs):
        """A Triton launch: kernel name, grid, config (constexprs, num_warps, ...)."""
        if warmup or not self.cuda:
            return run(jit, *args, grid=grid, warmup=warmup, **kwargs)
        name = getattr(fn, "__name__", None) or getattr(jit, "__name__", "kernel")
        config = {k: v for k, v in kwargs.items() if isinstance(v, (bool, int, float, str))}
        shapes = [_shape_of(a) for a in args] if self.record_shapes else None
        ev = self.begin(name, "kernel", shapes,
                        {"grid": list(grid) if isinstance(grid, (tuple, list)) else repr(grid), "config": config})
        if self._device_events:
            ev._cuda = _device_event_pair()
        try:
            return run(jit, *args, grid=grid, warmup=warmup, **kwargs)
        finally:
            if ev._cuda is not None:
                _record(ev._cuda[1])
            self.end(ev)

    # -- install / remove -------------------------------------------------------------------------
    def install(self) -> None:
        if _flags.profiler is not None:
            raise RuntimeError("Profiler is already enabled on this process")
        from ..autograd.function import Function

        def apply(cls, *args, **kwargs):
            return self.op(cls, args, kwargs)
        Function.apply = classmethod(apply)
        self._patched.append((Function, "apply", Function.__dict__["_apply"]))
        for cls in _jit_classes():
            real = cls.__dict__["run"]

            def run(jit, *args, grid, warmup, _real=real, **kwargs):
                rec = _flags.profiler
                if rec is None:
                    return _real(jit, *args, grid=grid, warmup=warmup, **kwargs)
                return rec.kernel(getattr(jit, "fn", None), _real, jit, args, grid, warmup, kwargs)
            cls.run = run
            self._patched.append((cls, "run", real))
        _flags.profiler = self

    def remove(self) -> None:
        if _flags.profiler is self:
            _flags.profiler = None
        for cls, name, real in reversed(self._patched):
            setattr(cls, name, real)
        self._patched.clear()

    def finish(self) -> None:
        """Device times: CUDA events on a GPU (one synchronisation); on the emulated device the
        interpreter runs each launch synchronously on the host, so its host time is the device's."""
        if not self._device_events:
            for e in self.events:
                if e.cat == "kernel":
                    e.device_ns = e.end - e.start
            return
        pending = [e for e in self.events if e._cuda is not None]
        if not pending:
            return
        from cuda.bindings import driver as drv
        drv.cuEventSynchronize(pending[-1]._cuda[1])
        for e in pending:
            err, ms = drv.cuEventElapsedTime(*e._cuda)
            if int(err) == 0:
                e.device_ns = int(ms * 1e6)
            for h in e._cuda:
                drv.cuEventDestroy(h)
            e._cuda = None


def _jit_classes():
    """Triton's launch entry classes, if Triton is importable (blaze works without it)."""
    try:
        from triton.runtime.interpreter import InterpretedFunction
        from triton.runtime.jit import JITFunction
    except ImportError:
        return []
    return [JITFunction, InterpretedFunction]


# -- CUDA events (real GPU only) -------------------------------------------------------------------
def _current_stream():
    from triton.runtime import driver
    dev = driver.active.get_current_device()
    return driver.active.get_current_stream(dev)


def _record(event) -> None:
    from cuda.bindings import driver as drv
    drv.cuEventRecord(event, _current_stream())


def _device_event_pair():
    """(start, end) CUDA events, start recorded now on Triton's current stream."""
    from cuda.bindings import driver as drv
    pair = []
    for _ in range(2):
        err, ev = drv.cuEventCreate(drv.CUevent_flags.CU_EVENT_DEFAULT)
        if int(err) != 0:
            raise RuntimeError(f"cuEventCreate failed: {err}")
        pair.append(ev)
    _record(pair[0])
    return tuple(pair)
