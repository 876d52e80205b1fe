"""Padding layers: Zero/Constant/Reflection/Replication/Circular padding in 1-3 dims (wrappers of F.pad)."""
from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = [f"{kind}Pad{n}d" for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular")
           for n in (1, 2, 3)]


class _PadNd(Module):
    """padding: an int (every side) or a 2*nd tuple (left, right, top, bottom, front, back)."""

    _nd, _mode = 1, "constant"

    def __init__(self, padding, value: float = 0.0):
        super().__init__()
        n = 2 * self._nd
        self.padding = (int(padding),) * n if isinstance(padding, int) else tuple(int(p) for p in padding)
        if len(self.padding) != n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of {n} ints, got {padding!r}")
        self.value = value

    def forward(self, input):
        if self._mode != "constant" and input.ndim not in (self._nd + 1, self._nd + 2):
            raise ValueError(f"expected {self._nd + 1}D or {self._nd + 2}D input (got {input.ndim}D input)")
        return F.pad(input, self.padding, self._mode, self.value if self._mode == "constant" else None)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}" if type(self).__name__.startswith("Constant") \
            else f"{self.padding}"


def _make(kind, mode, nd):
    if kind == "Constant":
        def __init__(self, padding, value: float):
            _PadNd.__init__(self, padding, value)
    else:
        def __init__(self, padding):
            _PadNd.__init__(self, padding)
    name = f"{kind}Pad{nd}d"
    doc = f"{mode.capitalize()} padding of the last {nd} dim(s), as ``torch.nn.{name}``."
    return type(name, (_PadNd,), {"_nd": nd, "_mode": mode, "__init__": __init__, "__doc__": doc,
                                  "__module__": __name__})


_KINDS = {"Zero": "constant", "Constant": "constant", "Reflection": "reflect", "Replication": "replicate",
          "Circular": "circular"}
for _kind, _mode in _KINDS.items():
    for _n in (1, 2, 3):
        _cls = _make(_kind, _mode, _n)
        globals()[_cls.__name__] = _cls
del _kind, _mode, _n, _cls
