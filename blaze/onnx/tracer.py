"""Record the define-by-run graph of one forward pass: the ops that ran, on which tensors, where.

Two seams feed the tracer while it is installed in ``autograd.function._TRACING``:
``Function.apply`` reports every op it ran (one ``is not None`` check when not tracing) and
``Tensor._inplace`` reports in-place writes (``relu_`` makes the tensor a new value). Module
forward hooks, registered only for the export, keep the module path for error messages and
capture whole modules ONNX has one op for (LSTM, BatchNorm, pooling: ``CAPTURED``); the ops
inside a captured module are not recorded.

The model runs twice, the second time with every dynamic axis grown and every input value
changed. Any Python int an op received that differs between the runs is a size that depends
on the inputs; it becomes a :class:`SymDim` (an int carrying both values) that the exporter
rewrites as arithmetic on the inputs' shapes. A constant whose values differ between the runs
was computed from the inputs by an op outside the trace, and is refused.
"""
from __future__ import annotations

import numpy as np

from ..autograd import function as _fn
from ..autograd.grad_mode import no_grad
from .._tensor import Tensor


class UnsupportedOperatorError(RuntimeError):
    """An op the ONNX exporter cannot express (PyTorch's ``torch.onnx.errors.UnsupportedOperatorError``)."""


class SymDim(int):
    """A size that differs between the two traced runs: ``int`` value of the first, ``.other`` of the second."""

    def __new__(cls, a, b):
        self = int.__new__(cls, a)
        self.other = int(b)
        return self


class Record:
    """One op of the trace: ``key`` names its translation; ``args`` as the op received them."""

    __slots__ = ("key", "obj", "ctx", "args", "outs", "path", "twin")

    def __init__(self, key, obj, ctx, args, outs, path):
        self.key, self.obj, self.ctx, self.args, self.outs, self.path = key, obj, ctx, args, outs, path
        self.twin = None  # the same op's args in the second run (dynamic axes)

    def tensors(self):
        return [a for a in _leaves(self.args) if isinstance(a, Tensor)]


def _leaves(obj):
    if isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _leaves(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _leaves(o)
    else:
        yield obj


def flat_tensors(obj):
    return [t for t in _leaves(obj) if isinstance(t, Tensor)]


def _key(cls):
    bases = [c.__name__ for c in cls.__mro__]  # pointwise ops share _Unary / _Binary and differ by ``op``
    if "_Unary" in bases or "_Binary" in bases:
        return ("unary." if "_Unary" in bases else "binary.") + cls.op
    return cls.__name__


class Tracer:
    def __init__(self, model, captured):
        self.model, self.captured = model, captured
        self.records: list[Record] = []
        self.keep: list = []  # every traced tensor stays alive, so no id() is reused mid-trace
        self.versions: dict[int, int] = {}
        self.paths = {id(m): name for name, m in model.named_modules()}
        self.stack: list = []
        self.suspended = 0
        self.by_data: dict[int, Tensor] = {}  # id(array) -> the traced tensor holding it (detach() shares it)

    # -- the seams -------------------------------------------------------------------------
    def function(self, cls, ctx, args, out):
        if self.suspended:
            return
        outs = list(out) if isinstance(out, tuple) else [out]
        self._check_versions(args, _key(cls))
        self._add(Record(_key(cls), cls, ctx, args, outs, self.path()))

    def op(self, key, args, out):
        """An op that is not a Function (comparisons, logical_not): recorded under its table key."""
        if self.suspended:
            return
        self._check_versions(args, key)
        self._add(Record(key, None, None, args, [out], self.path()))

    def inplace(self, target, result):
        if self.suspended:
            return
        self._add(Record("inplace", None, None, (result,), [target], self.path()))

    def _add(self, rec):
        self.records.append(rec)
        self.keep.append(rec.args)
        for o in rec.outs:
            if isinstance(o, Tensor):
                self.keep.append(o)
                self.versions[id(o)] = o._version[0]
                self.by_data.setdefault(id(o._data), o)

    def _check_versions(self, args, what):
        for t in flat_tensors(args):
            v = self.versions.get(id(t))
            if v is not None and v != t._version[0]:
                raise UnsupportedOperatorError(
                    f"blaze.onnx.export: an input of {what} at {self.path()} was changed in place through a view "
                    "after it was computed; the exported graph cannot express that write")

    # -- module hooks ----------------------------------------------------------------------
    def path(self):
        return self.stack[-1][0] if self.stack else type(self.model).__name__

    def _pre(self, module, args):
        name = self.paths.get(id(module), "")
        full = type(self.model).__name__ + ("." + name if name else "")
        capture = not self.suspended and type(module).__name__ in self.captured
        if capture:
            self._check_versions(args, type(module).__name__)
            self.suspended += 1
        self.stack.append((f"{full} ({type(module).__name__})", capture))

    def _post(self, module, args, out):
        path, capture = self.stack.pop()
        if capture:
            self.suspended -= 1
            outs = flat_tensors(out)
            self._add(Record("nn." + type(module).__name__, module, None, tuple(args), outs, path))

    def run(self, args, kwargs):
        handles = []
        for m in self.model.modules():
            handles.append(m.register_forward_pre_hook(self._pre))
            handles.append(m.register_forward_hook(self._post))
        prev = _fn._TRACING[0]
        _fn._TRACING[0] = self
        try:
            with no_grad():
                out = self.model(*args, **kwargs)
        finally:
            _fn._TRACING[0] = prev
            for h in handles:
                h.remove()
        self.keep.append(out)
        return out


def _merge(a, b, where):
    """``a`` with every int that differs from its counterpart in ``b`` made a SymDim."""
    if isinstance(a, Tensor) or a is None or a is Ellipsis or isinstance(a, (bool, float, str)):
        return a
    if isinstance(a, (int, np.integer)):
        return a if int(a) == int(b) else SymDim(a, b)
    if isinstance(a, (tuple, list)):
        if not isinstance(b, (tuple, list)) or len(a) != len(b):
            raise UnsupportedOperatorError(f"blaze.onnx.export: the arguments of {where} change structure with the "
                                           "input size; this graph cannot have dynamic axes")
        return type(a)(_merge(x, y, where) for x, y in zip(a, b))
    if isinstance(a, slice):
        return slice(_merge(a.start, b.start, where), _merge(a.stop, b.stop, where), _merge(a.step, b.step, where))
    return a


def merge_traces(first, second):
    """Mark the sizes that depend on the inputs: ``second`` ran with every dynamic axis grown."""
    if len(first) != len(second) or any(r.key != s.key for r, s in zip(first, second)):
        where = next((r.path for r, s in zip(first, second) if r.key != s.key), "the model")
        raise UnsupportedOperatorError(f"blaze.onnx.export: the ops the model runs change with the inputs' "
                                       f"values or sizes (first difference at {where}): data-dependent control "
                                       "flow cannot be traced")
    for r, s in zip(first, second):
        r.args = _merge(r.args, s.args, f"{r.key} at {r.path}")
        r.twin = s.args
