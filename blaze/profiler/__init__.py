"""``blaze.profiler``: PyTorch's ``torch.profiler`` for blaze — ops, kernel launches, copies.

Example::

    with blaze.profiler.profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA],
                                record_shapes=True) as prof:
        loss = model(x).sum(); loss.backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")   # open in https://ui.perfetto.dev

Recorded: every autograd ``Function`` (an "op" range, host time, input shapes with
``record_shapes``), every Triton kernel launch (kernel name, grid, config; device time through
CUDA events on a GPU, the launch's host time on the emulated device), host<->device copies
("Memcpy HtoD"/"Memcpy DtoH", bytes), the host round trips counted in
``blaze.devices.cuda.backend.FALLBACKS`` (instant events) and ``record_function`` ranges.
Without a profile the hooks cost one ``is None`` test per op.
"""
from __future__ import annotations

import enum
import functools
import os
import socket
import time

from .. import _flags
from ._events import EventList, FunctionEvent, FunctionEventAvg
from ._record import Recorder

__all__ = ["profile", "ProfilerActivity", "ProfilerAction", "record_function", "schedule",
           "tensorboard_trace_handler", "EventList", "FunctionEvent", "FunctionEventAvg"]


class ProfilerActivity(enum.Enum):
    CPU = 0
    CUDA = 1


class ProfilerAction(enum.Enum):
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0):
    """Which steps record: skip ``skip_first``, then cycles of ``wait`` idle, ``warmup`` and ``active``
    recorded steps (the last one saves: ``on_trace_ready``), ``repeat`` times (0: forever)."""
    for name, v in (("wait", wait), ("warmup", warmup), ("active", active), ("repeat", repeat),
                    ("skip_first", skip_first)):
        if not isinstance(v, int) or v < 0:
            raise ValueError(f"Invalid profiler schedule arguments: {name}={v!r}")
    if active < 1:
        raise ValueError("Invalid profiler schedule arguments: active must be at least 1")
    if warmup == 0:
        import warnings
        warnings.warn("Profiler won't be using warmup, this can skew profiler results")
    cycle = wait + warmup + active

    def fn(step: int) -> ProfilerAction:
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if repeat > 0 and step // cycle >= repeat:
            return ProfilerAction.NONE
        pos = step % cycle
        if pos < wait:
            return ProfilerAction.NONE
        if pos < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if pos < cycle - 1 else ProfilerAction.RECORD_AND_SAVE
    return fn


def _always(step: int) -> ProfilerAction:
    return ProfilerAction.RECORD


def tensorboard_trace_handler(dir_name: str, worker_name: str | None = None, use_gzip: bool = False):
    """An ``on_trace_ready`` that writes ``{worker}.{ms}.pt.trace.json[.gz]`` into ``dir_name``."""
    if not worker_name:
        worker_name = f"{socket.gethostname()}_{os.getpid()}"

    def handler(prof: "profile") -> None:
        os.makedirs(dir_name, exist_ok=True)
        path = os.path.join(dir_name, f"{worker_name}.{time.time_ns() // 1_000_000}.pt.trace.json")
        prof.export_chrome_trace(path)
        if use_gzip:
            import gzip
            import shutil
            with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.remove(path)
    return handler


def _real_gpu() -> bool:
    from .._env import interpret
    if interpret():
        return False
    from ..devices.cuda import memory
    return memory.real_driver_available()


class profile:
    """Context manager that records ops and kernel launches (PyTorch's ``torch.profiler.profile``).

    Args:
        activities: ``ProfilerActivity.CPU`` (ops, copies, ranges) and/or ``.CUDA`` (kernel
            launches); default both.
        record_shapes: record the input shapes of ops and kernels.
        profile_memory: accepted for PyTorch compatibility; memory is not recorded.
        with_stack: record the user-code frame (file:line) that called each op.
        schedule: ``step -> ProfilerAction`` (see ``schedule()``); default: record throughout.
        on_trace_ready: called with this profiler when a scheduled cycle ends (and at stop
            without a schedule).
    """

    def __init__(self, activities=None, record_shapes: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, schedule=None, on_trace_ready=None, with_flops: bool = False,
                 with_modules: bool = False, experimental_config=None, acc_events: bool = False):
        acts = set(activities) if activities is not None else {ProfilerActivity.CPU, ProfilerActivity.CUDA}
        for a in acts:
            if not isinstance(a, ProfilerActivity):
                raise TypeError(f"activities must be ProfilerActivity values, got {a!r}")
        self.activities = acts
        self.record_shapes, self.profile_memory, self.with_stack = record_shapes, profile_memory, with_stack
        self.schedule = schedule if schedule is not None else _always
        self.on_trace_ready = on_trace_ready
        self.step_num = 0
        self._rec: Recorder | None = None
        self._events: list = []
        self._action = ProfilerAction.NONE
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "profile":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if self._started:
            raise RuntimeError("profiler already started")
        self.step_num = 0
        self._events = []
        self._transit(self.schedule(self.step_num))
        self._started = True

    def stop(self) -> None:
        if not self._started:
            return
        was = self._action
        self._transit(ProfilerAction.NONE)
        if was in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
            self._ready()
        self._started = False

    def step(self) -> None:
        """Mark the end of a step: the schedule decides whether the next one records."""
        if not self._started:
            return
        self.step_num += 1
        prev = self._action
        nxt = self.schedule(self.step_num)
        if prev == ProfilerAction.RECORD_AND_SAVE:
            self._transit(ProfilerAction.NONE)
            self._ready()
        self._transit(nxt)

    def _transit(self, action: ProfilerAction) -> None:
        recording = action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)
        if recording and self._rec is None:
            self._events = []  # a new cycle: the last one's events were handed to on_trace_ready
            cuda = ProfilerActivity.CUDA in self.activities
            rec = Recorder(self.record_shapes, self.with_stack, cuda=cuda, device_events=cuda and _real_gpu())
            rec.install()
            self._rec = rec
        elif not recording and self._rec is not None:
            rec, self._rec = self._rec, None
            rec.remove()
            rec.finish()
            cpu = ProfilerActivity.CPU in self.activities
            self._events.extend(e for e in rec.events if cpu or e.cat == "kernel")
        self._action = action

    def _ready(self) -> None:
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    # -- results -------------------------------------------------------------------------------
    def events(self) -> EventList:
        """Every recorded event, in start order."""
        return EventList.of(self._events)

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0) -> EventList:
        return self.events().key_averages(group_by_input_shape)

    def export_chrome_trace(self, path: str) -> None:
        """Write the events as Chrome trace JSON (open in https://ui.perfetto.dev)."""
        self.events().export_chrome_trace(path, sorted(self._events, key=lambda e: e.start))

    def kernel_counts(self) -> dict:
        """Launches per kernel name in the recording (most first)."""
        counts: dict = {}
        for e in self._events:
            if e.cat == "kernel":
                counts[e.name] = counts.get(e.name, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


class record_function:
    """A named range in the profile; a context manager or a decorator. Costs one check when nothing records.

    Example::

        with blaze.profiler.record_function("attention"):
            y = attn(x)
    """

    def __init__(self, name: str, args: str | None = None):
        if not isinstance(name, str):
            raise TypeError(f"record_function(): name must be a str, got {type(name).__name__}")
        self.name, self.args = name, args
        self._ev = None
        self._rec = None

    def __enter__(self) -> "record_function":
        rec = _flags.profiler
        if rec is not None:
            self._rec = rec
            self._ev = rec.begin(self.name, "user_annotation", args={"args": self.args} if self.args else None)
        return self

    def __exit__(self, *exc) -> None:
        if self._ev is not None:
            self._rec.end(self._ev)
            self._ev = self._rec = None

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with record_function(self.name, self.args):
                return fn(*args, **kwargs)
        return wrapper
