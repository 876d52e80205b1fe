"""dtypes and PyTorch's type-promotion rules.

A ``blaze.dtype`` wraps a NumPy dtype (bfloat16 comes from ``ml_dtypes``). Promotion
follows PyTorch, not NumPy: categories bool < integer < floating; dimensioned tensors
outrank zero-dim tensors, which outrank Python scalars, unless a lower tier brings a
higher category (``int_tensor * 2.5`` is float32, not float64; ``float16_tensor + 1.0`` stays
float16).
"""
from __future__ import annotations

import numpy as np

try:
    import ml_dtypes
    _BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is a dependency
    _BF16 = None


class dtype:
    """A tensor element type (``blaze.float32``, ``blaze.int64``, ...)."""

    __slots__ = ("name", "np", "itemsize", "is_floating_point", "is_signed", "category")

    def __init__(self, name: str, np_dtype, category: int):
        self.name = name
        self.np = np.dtype(np_dtype) if np_dtype is not None else None
        self.itemsize = self.np.itemsize if self.np is not None else 2
        self.category = category  # 0 bool, 1 integer, 2 floating
        self.is_floating_point = category == 2
        self.is_signed = category == 2 or (category == 1 and self.np.kind == "i")

    def __repr__(self) -> str:
        return f"blaze.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))

    @property
    def is_complex(self) -> bool:
        return False


float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)
float16 = dtype("float16", np.float16, 2)
bfloat16 = dtype("bfloat16", _BF16, 2)
int64 = dtype("int64", np.int64, 1)
int32 = dtype("int32", np.int32, 1)
int16 = dtype("int16", np.int16, 1)
int8 = dtype("int8", np.int8, 1)
uint8 = dtype("uint8", np.uint8, 1)
bool_ = dtype("bool", np.bool_, 0)

ALL = (float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool_)
ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32,
           "short": int16, "bool": bool_}
_BY_NAME = {d.name: d for d in ALL}
_FROM_NP = {d.np: d for d in ALL if d.np is not None}

_default_float = [float32]


def _by_name(name: str) -> dtype:
    return _BY_NAME[name]


def get_default_dtype() -> dtype:
    return _default_float[0]


def set_default_dtype(d: dtype) -> None:
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float[0] = d


def from_numpy_dtype(np_dtype) -> dtype:
    """The blaze dtype of a NumPy dtype; raises TypeError for unsupported ones."""
    d = _FROM_NP.get(np.dtype(np_dtype))
    if d is None:
        raise TypeError(f"can't convert np.ndarray of type {np.dtype(np_dtype)}. The only supported types are: "
                        "float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, and bool.")
    return d


def to_dtype(d) -> dtype:
    """Accept a blaze dtype, a NumPy dtype, a name, or the Python types float/int/bool."""
    if isinstance(d, dtype):
        return d
    if d is float:
        return get_default_dtype()
    if d is int:
        return int64
    if d is bool:
        return bool_
    if isinstance(d, str):
        name = d.removeprefix("blaze.").removeprefix("torch.")
        if name in _BY_NAME:
            return _BY_NAME[name]
        if name in ALIASES:
            return ALIASES[name]
        raise TypeError(f"unknown dtype {d!r}")
    return from_numpy_dtype(d)


def promote_types(a: dtype, b: dtype) -> dtype:
    """PyTorch's ``promote_types``: the smallest dtype both convert to without losing category."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if {a, b} == {float16, bfloat16}:
        return float32
    if a is bfloat16 or b is bfloat16:
        other = b if a is bfloat16 else a
        return bfloat16 if other.itemsize <= 2 else other
    return _FROM_NP[np.promote_types(a.np, b.np)]


def _scalar_dtype(x) -> dtype:
    if isinstance(x, bool):
        return bool_
    if isinstance(x, int):
        return int64
    return get_default_dtype()


def result_type(*operands) -> dtype:
    """The dtype of an elementwise op over tensors and Python scalars, by PyTorch's rules."""
    tiers = [None, None, None]  # dimensioned tensors, zero-dim tensors, Python scalars
    for x in operands:
        if isinstance(x, (bool, int, float)):
            tier, d = 2, _scalar_dtype(x)
        else:
            tier, d = (0 if x.ndim else 1), x.dtype
        cur = tiers[tier]
        tiers[tier] = d if cur is None else promote_types(cur, d)
    result = None
    for d in tiers:
        if d is None:
            continue
        if result is None:
            result = d
        elif d.category > result.category:
            result = d if d is not bool_ else result
    return result


def can_cast(src: dtype, dst: dtype) -> bool:
    """Whether an in-place op may write a ``src`` result into a ``dst`` tensor (no category loss)."""
    return src.category <= dst.category


_LABELS = {"float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16", "int64": "Long",
           "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def type_label(d: dtype) -> str:
    """PyTorch's short type name used in error messages (Float, Long, ...)."""
    return _LABELS[d.name]


def compute_dtype(d: dtype) -> dtype:
    """The dtype elementwise math on ``d`` operands runs in: float16/bfloat16 in float32 (one
    rounding, at the store; NumPy's and the GPU's half math rounds every step), bool arithmetic in
    int32 (True + True is 2 before the store turns it back to bool). Every other dtype as is."""
    return _COMPUTE.get(d, d)


_COMPUTE = {float16: float32, bfloat16: float32, bool_: int32}
