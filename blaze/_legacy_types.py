"""PyTorch's legacy tensor types: ``torch.FloatTensor(2, 3)``, ``torch.LongTensor([1, 2])``,
``torch.cuda.FloatTensor``, and ``isinstance(x, torch.FloatTensor)`` (dtype and device type match).

Published programs still build tensors this way (word_language_model's ONNX export:
``torch.LongTensor(n).zero_()``; older DCGAN and tutorials: ``torch.FloatTensor(b, c, h, w)``).
"""
from __future__ import annotations

import numbers

from . import dtypes as _dt
from ._tensor import _TYPE_NAMES, Size, Tensor


class _LegacyTypeMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype and obj.device.type == cls._device_type


class _LegacyTensorType(metaclass=_LegacyTypeMeta):
    dtype = None
    _device_type = "cpu"

    def __new__(cls, *args, device=None):
        from .ops.creation import empty, tensor
        dev = cls._device_type if device is None else device
        if len(args) == 1 and isinstance(args[0], Tensor):
            if args[0].dtype != cls.dtype:
                raise TypeError(f"expected {cls.dtype} (got {args[0].dtype})")
            return args[0]
        if len(args) == 1 and isinstance(args[0], Size):
            return empty(tuple(args[0]), dtype=cls.dtype, device=dev)
        if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args):
            return empty(tuple(int(a) for a in args) if args else (0,), dtype=cls.dtype, device=dev)
        if len(args) == 1:
            return tensor(args[0], dtype=cls.dtype, device=dev)
        raise TypeError(f"{cls.__name__}() takes sizes (ints) or one sequence of data, got "
                        f"({', '.join(type(a).__name__ for a in args)})")


def _make(device_type: str) -> dict:
    types = {}
    for dtype_name, name in _TYPE_NAMES.items():
        types[name] = _LegacyTypeMeta(name, (_LegacyTensorType,),
                                      {"dtype": getattr(_dt, dtype_name if dtype_name != "bool" else "bool_"),
                                       "_device_type": device_type, "__module__": f"blaze.{device_type}"
                                       if device_type != "cpu" else "blaze"})
    return types


CPU_TYPES = _make("cpu")
CUDA_TYPES = _make("cuda")
