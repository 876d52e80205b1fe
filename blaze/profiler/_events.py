"""Recorded events as PyTorch's profiler shows them: ``key_averages().table()`` and the Chrome trace."""
from __future__ import annotations

import json
import os

# the device column: kernels' device time (CUDA events on a GPU; on the emulated device the
# interpreter runs a launch synchronously, so its host time is the emulated device's time)
_SORT_KEYS = ("cpu_time_total", "self_cpu_time_total", "cuda_time_total", "self_cuda_time_total", "count",
              "cpu_time", "cuda_time", "device_time_total", "self_device_time_total")


class FunctionEvent:
    """One event (PyTorch's ``FunctionEvent``): times in µs."""

    def __init__(self, ev, child_device_ns=0):
        self._ev = ev
        self.name = self.key = ev.name
        self.cat = ev.cat
        self.input_shapes = ev.shapes or []
        self.stack = ev.stack or []
        self.args = ev.args or {}
        self.count = 1
        self.cpu_time_total = ev.duration_ns / 1e3
        self.self_cpu_time_total = ev.self_ns / 1e3
        dev = (ev.device_ns / 1e3) if ev.device_ns is not None else 0.0
        self.self_cuda_time_total = dev
        self.cuda_time_total = dev + child_device_ns / 1e3  # an op: the kernels it launched
        self.is_kernel = ev.cat == "kernel"

    @property
    def device_time_total(self):
        return self.cuda_time_total

    @property
    def self_device_time_total(self):
        return self.self_cuda_time_total

    @property
    def cpu_time(self):
        return self.cpu_time_total / max(self.count, 1)

    @property
    def cuda_time(self):
        return self.cuda_time_total / max(self.count, 1)

    def __repr__(self) -> str:
        return (f"<FunctionEvent {self.name!r} count={self.count} cpu_time_total={self.cpu_time_total:.1f}us "
                f"cuda_time_total={self.cuda_time_total:.1f}us>")


class FunctionEventAvg(FunctionEvent):
    """Events of one key added up (PyTorch's ``FunctionEventAvg``)."""

    def __init__(self, key, shapes=None):  # noqa: D107 (no base __init__: starts empty)
        self.name = self.key = key
        self.cat = ""
        self.input_shapes = shapes or []
        self.stack, self.args = [], {}
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0
        self.cuda_time_total = self.self_cuda_time_total = 0.0
        self.is_kernel = False

    def add(self, e: FunctionEvent) -> "FunctionEventAvg":
        self.cat = self.cat or e.cat
        self.is_kernel = self.is_kernel or e.is_kernel
        self.count += e.count
        self.cpu_time_total += e.cpu_time_total
        self.self_cpu_time_total += e.self_cpu_time_total
        self.cuda_time_total += e.cuda_time_total
        self.self_cuda_time_total += e.self_cuda_time_total
        return self


class EventList(list):
    """A list of ``FunctionEvent`` with PyTorch's summaries."""

    @classmethod
    def of(cls, events) -> "EventList":
        """FunctionEvents of recorded events, in start order; a range's CUDA total adds its kernels'."""
        below: dict = {}
        for e in events:
            if e.device_ns:
                p = e.parent
                while p is not None:
                    below[id(p)] = below.get(id(p), 0) + e.device_ns
                    p = p.parent
        return cls(FunctionEvent(e, below.get(id(e), 0)) for e in sorted(events, key=lambda e: e.start))

    def key_averages(self, group_by_input_shape: bool = False) -> "EventList":
        groups: dict = {}
        for e in self:
            key = (e.key, str(e.input_shapes)) if group_by_input_shape else e.key
            avg = groups.get(key)
            if avg is None:
                avg = groups[key] = FunctionEventAvg(e.key, e.input_shapes if group_by_input_shape else None)
            avg.add(e)
        out = EventList(groups.values())
        out._by_shape = group_by_input_shape
        return out

    def total_average(self) -> FunctionEventAvg:
        total = FunctionEventAvg("Total")
        for e in self:
            total.add(e)
        return total

    def table(self, sort_by: str | None = None, row_limit: int = 100, max_name_column_width: int = 55,
              header: str | None = None, top_level_events_only: bool = False) -> str:
        """A text table, one row per event or key, sorted by ``sort_by`` (descending)."""
        if sort_by is not None and sort_by not in _SORT_KEYS:
            raise ValueError(f"sort_by must be one of {', '.join(_SORT_KEYS)}; got {sort_by!r}")
        rows = list(self)
        if sort_by is not None:
            rows.sort(key=lambda e: getattr(e, sort_by), reverse=True)
        if row_limit is not None and row_limit >= 0:
            rows = rows[:row_limit]
        return _format(rows, self, max_name_column_width, header, getattr(self, "_by_shape", False))

    def export_chrome_trace(self, path: str, events=None) -> None:
        _write_chrome_trace(path, events if events is not None else [e._ev for e in self])


def _us(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.3f}s"
    if x >= 1e3:
        return f"{x / 1e3:.3f}ms"
    return f"{x:.3f}us"


def _format(rows, everything, width, header, by_shape) -> str:
    # percentages against the whole recording: self times add up to it, totals of nested ranges do not
    self_cpu = sum(e.self_cpu_time_total for e in everything) or 1.0
    self_dev = sum(e.self_cuda_time_total for e in everything) or 1.0
    cols = [("Name", width), ("Self CPU %", 11), ("Self CPU", 11), ("CPU total", 11), ("CPU time avg", 12),
            ("Self CUDA", 11), ("Self CUDA %", 11), ("CUDA total", 11), ("# of Calls", 10)]
    if by_shape:
        cols.append(("Input Shapes", 40))
    line = "-" * (sum(w for _, w in cols) + 2 * (len(cols) - 1))
    out = [header] if header else []
    out += [line, "  ".join(n.rjust(w) if i else n.ljust(w) for i, (n, w) in enumerate(cols)), line]
    for e in rows:
        name = e.key if len(e.key) <= width else e.key[:width - 3] + "..."
        vals = [name.ljust(width), f"{100 * e.self_cpu_time_total / self_cpu:.2f}%".rjust(11),
                _us(e.self_cpu_time_total).rjust(11), _us(e.cpu_time_total).rjust(11), _us(e.cpu_time).rjust(12),
                _us(e.self_cuda_time_total).rjust(11), f"{100 * e.self_cuda_time_total / self_dev:.2f}%".rjust(11),
                _us(e.cuda_time_total).rjust(11), str(e.count).rjust(10)]
        if by_shape:
            vals.append(str(e.input_shapes)[:40].rjust(40))
        out.append("  ".join(vals))
    out.append(line)
    out.append(f"Self CPU time total: {_us(sum(e.self_cpu_time_total for e in everything))}")
    out.append(f"Self CUDA time total: {_us(sum(e.self_cuda_time_total for e in everything))}")
    return "\n".join(out) + "\n"


def _write_chrome_trace(path: str, events) -> None:
    """Chrome trace JSON (the "Trace Event Format"; opens in Perfetto and chrome://tracing)."""
    pid = os.getpid()
    t0 = min((e.start for e in events), default=0)
    tids: dict = {}
    trace = []
    for e in events:
        tid = tids.setdefault(e.tid, len(tids))
        item = {"name": e.name, "cat": e.cat, "pid": pid, "tid": tid, "ts": (e.start - t0) / 1e3}
        args = dict(e.args or {})
        if e.shapes is not None:
            args["Input Dims"] = e.shapes
        if e.stack:
            args["Call stack"] = ";".join(e.stack)
        if e.end > e.start or e.cat != "round_trip":
            item.update(ph="X", dur=(e.end - e.start) / 1e3)
        else:
            item.update(ph="i", s="t")
        if args:
            item["args"] = args
        trace.append(item)
        if e.cat == "kernel" and e.device_ns is not None:
            # the device's own track: one slice per kernel, placed at its launch
            trace.append({"name": e.name, "cat": "device_kernel", "ph": "X", "pid": pid, "tid": "stream 0",
                          "ts": (e.start - t0) / 1e3, "dur": e.device_ns / 1e3, "args": args})
    meta = [{"name": "process_name", "ph": "M", "pid": pid, "args": {"name": "blaze"}}]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"traceEvents": meta + trace, "displayTimeUnit": "ms"}, f, separators=(",", ":"))
    os.replace(tmp, path)
