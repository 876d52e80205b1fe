"""Process-wide settings with PyTorch's names: threads, default device, matmul precision,
deterministic algorithms, print options, and small queries (typename, is_nonzero, ...).

Each setter writes the one switch blaze already reads (``blaze._flags``, ``blaze.device.DEFAULT``,
``blaze._repr.OPTIONS``), so ``blaze.backends.cudnn.deterministic`` and
``use_deterministic_algorithms`` are the same switch, and ``set_float32_matmul_precision``
is ``blaze.backends.cuda.matmul.allow_tf32``.
"""
from __future__ import annotations

import os
import warnings

from . import _flags, _repr
from .device import CPU, DEFAULT, to_device
from . import dtypes as _dt

_state = {"threads": None, "interop": None, "precision": "high", "warn_only": False}


def _blas_limits():
    from threadpoolctl import ThreadpoolController  # optional: NumPy's BLAS thread pool (the threads extra)
    return ThreadpoolController()


def get_num_threads() -> int:
    """Threads of the cpu device's BLAS (NumPy's thread pool); the CPU count when none reports."""
    if _state["threads"] is not None:
        return _state["threads"]
    try:
        pools = [p["num_threads"] for p in _blas_limits().info() if p.get("user_api") == "blas"]
    except ImportError:
        pools = []
    return max(pools) if pools else (os.cpu_count() or 1)


def set_num_threads(num: int) -> None:
    """The cpu device's threads: its ops' workers and NumPy's BLAS pool (through threadpoolctl when installed)."""
    if not isinstance(num, int) or isinstance(num, bool) or num <= 0:
        raise RuntimeError("set_num_threads expects a positive integer")
    try:
        _blas_limits().limit(limits=num, user_api="blas")
    except ImportError:
        pass
    from .devices.cpu import parallel
    parallel.set_workers(num)                         # the cpu ops' intra-op workers
    _state["threads"] = num


def init_num_threads() -> None:
    """Re-apply ``set_num_threads`` (BLAS pools are process-wide here, so nothing is per thread)."""
    if _state["threads"] is not None:
        set_num_threads(_state["threads"])


def get_num_interop_threads() -> int:
    return _state["interop"] if _state["interop"] is not None else (os.cpu_count() or 1)


def set_num_interop_threads(num: int) -> None:
    """Recorded for code that sets it; blaze runs ops one at a time on the calling thread."""
    if not isinstance(num, int) or isinstance(num, bool) or num <= 0:
        raise RuntimeError("Expected positive number of threads")
    if _state["interop"] is not None:
        raise RuntimeError("Error: cannot set number of interop threads after parallel work has started or "
                           "set_num_interop_threads called")
    _state["interop"] = num


def set_default_device(device) -> None:
    """Where factory functions (zeros, rand, tensor, ...) put a tensor when no device is named."""
    DEFAULT[0] = CPU if device is None else to_device(device)


def get_default_device():
    return DEFAULT[0]


_TENSOR_TYPES = {"FloatTensor": _dt.float32, "DoubleTensor": _dt.float64, "HalfTensor": _dt.float16,
                 "BFloat16Tensor": _dt.bfloat16}


def set_default_tensor_type(t) -> None:
    """Deprecated in PyTorch: the default float dtype (and device, for a ``cuda.`` type) from a type name."""
    name = t if isinstance(t, str) else getattr(t, "__name__", str(t))
    parts = name.split(".")
    if parts[-1] not in _TENSOR_TYPES:
        raise TypeError(f"only floating-point types are supported as the default type, got {name}")
    _dt.set_default_dtype(_TENSOR_TYPES[parts[-1]])
    set_default_device("cuda" if "cuda" in parts else "cpu")


def set_float32_matmul_precision(precision: str) -> None:
    """"highest": full fp32 matmuls; "high" / "medium": TF32 allowed (10 mantissa bits)."""
    if precision not in ("highest", "high", "medium"):
        raise RuntimeError(f"Invalid float32 matmul precision: {precision} (expected 'highest', 'high' or "
                           "'medium')")
    _state["precision"] = precision
    _flags.allow_tf32 = precision != "highest"


def get_float32_matmul_precision() -> str:
    return _state["precision"] if _flags.allow_tf32 else "highest"


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """The same switch as ``blaze.backends.cudnn.deterministic``: fixed-order sums where blaze has a choice."""
    _flags.deterministic = bool(mode)
    _state["warn_only"] = bool(warn_only) and bool(mode)


def are_deterministic_algorithms_enabled() -> bool:
    return _flags.deterministic


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _flags.deterministic and _state["warn_only"]


_DEBUG_MODES = {"default": 0, "warn": 1, "error": 2}


def set_deterministic_debug_mode(debug_mode) -> None:
    mode = _DEBUG_MODES.get(debug_mode, debug_mode) if isinstance(debug_mode, str) else debug_mode
    if mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected one of `default`, `warn`, `error`, but got "
                           f"{debug_mode}")
    use_deterministic_algorithms(mode != 0, warn_only=mode == 1)


def get_deterministic_debug_mode() -> int:
    if not _flags.deterministic:
        return 0
    return 1 if _state["warn_only"] else 2


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """How ``repr(tensor)`` prints: digits, summarizing threshold, edge items, line width."""
    o = _repr.OPTIONS
    if profile is not None:
        if profile not in _repr.PRESETS:
            raise ValueError(f"unknown print profile {profile!r} (expected default, short or full)")
        o.update(_repr.PRESETS[profile])
    for k, v in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                 ("linewidth", linewidth)):
        if v is not None:
            o[k] = int(v)
    o["sci_mode"] = sci_mode


def set_flush_denormal(mode: bool) -> bool:
    """False: NumPy has no flush-to-zero switch, so blaze reports it unsupported (as PyTorch on such CPUs)."""
    return False


def typename(obj) -> str:
    from ._tensor import Tensor
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    qual = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    if not hasattr(obj, "__qualname__"):
        module = type(obj).__module__
    return qual if module in ("", "builtins") else f"{module}.{qual}"


def is_nonzero(input) -> bool:
    n = input.numel()
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(input.item() != 0)


def is_inference(input) -> bool:
    """False: blaze's ``inference_mode`` is ``no_grad`` and makes no separate inference tensors (README)."""
    return input.is_inference()


def is_inference_mode_enabled() -> bool:
    from .autograd.grad_mode import _state as grad_state
    return bool(getattr(grad_state, "inference", False))


def thread_safe_generator():
    """None: blaze's DataLoader workers are processes, where PyTorch also returns None (the default RNG,
    seeded per worker)."""
    return None


def get_device_module(device=None):
    """``blaze.cuda`` for a cuda device (and for None when a GPU is present)."""
    import importlib
    name = device if isinstance(device, str) else getattr(device, "type", None)
    if device is None:
        from . import cuda
        name = "cuda" if cuda.is_available() else "cpu"
    name = name.split(":")[0]
    if name != "cuda":
        raise RuntimeError(f"Device '{name}' does not have a corresponding module registered as 'blaze.{name}'.")
    return importlib.import_module("blaze.cuda")


__all__ = ["get_num_threads", "set_num_threads", "init_num_threads", "get_num_interop_threads",
           "set_num_interop_threads", "set_default_device", "get_default_device", "set_default_tensor_type",
           "set_float32_matmul_precision", "get_float32_matmul_precision", "use_deterministic_algorithms",
           "are_deterministic_algorithms_enabled", "is_deterministic_algorithms_warn_only_enabled",
           "set_deterministic_debug_mode", "get_deterministic_debug_mode", "set_printoptions", "set_flush_denormal",
           "typename", "is_nonzero", "is_inference", "is_inference_mode_enabled", "get_device_module",
           "thread_safe_generator"]
