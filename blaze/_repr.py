"""``repr(tensor)`` in PyTorch's format: ``tensor([[1., 2.], ...], requires_grad=True)``."""
from __future__ import annotations

import numpy as np

from . import dtypes as _dt

_DEFAULT_SHOWN = ("float32", "int64", "bool")
# torch.set_printoptions; sci_mode None picks scientific notation from the values
PRESETS = {"default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None),
           "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80, sci_mode=None),
           "full": dict(precision=4, threshold=2 ** 63 - 1, edgeitems=3, linewidth=80, sci_mode=None)}
OPTIONS = dict(PRESETS["default"])


def _format_array(a: np.ndarray) -> str:
    if a.dtype.kind == "V" or str(a.dtype) == "bfloat16" or a.dtype == np.float16:
        a = a.astype(np.float32)
    o = OPTIONS
    opts = dict(separator=", ", prefix="tensor(", threshold=o["threshold"], edgeitems=o["edgeitems"],
                max_line_width=o["linewidth"])
    if a.dtype.kind == "f":
        p = o["precision"]
        finite = a[np.isfinite(a)]
        if o["sci_mode"] is None and finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8:
            return np.array2string(a, formatter={"float_kind": lambda v: _int_float(v)}, **opts)
        big = finite.size and (np.abs(finite).max() >= 1e8 or
                               (np.abs(finite[finite != 0]).min() < 1e-4 if np.any(finite != 0) else False))
        if o["sci_mode"] or (o["sci_mode"] is None and big):
            return np.array2string(a, formatter={"float_kind": lambda v: f"{v:.{p}e}"}, **opts)
        return np.array2string(a, formatter={"float_kind": lambda v: f"{v:.{p}f}"}, **opts)
    if a.dtype == np.bool_:
        return np.array2string(a, formatter={"bool": lambda v: "True" if v else "False"}, **opts)
    return np.array2string(a, **opts)


def _int_float(v) -> str:
    if not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{int(v)}."


def tensor_repr(t) -> str:
    a = t.detach().cpu()._data
    body = _format_array(a)
    extras = []
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if a.size == 0 and a.ndim != 1:
        body = "[]"
        extras.insert(0, f"size={tuple(a.shape)}")
    if t.dtype.name not in _DEFAULT_SHOWN or (t.dtype is _dt.float32 and _dt.get_default_dtype() is not _dt.float32):
        extras.append(f"dtype={t.dtype}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
