"""``torch.backends.cuda``: ``matmul.allow_tf32`` is the TF32 switch of blaze's matmul kernel."""
from __future__ import annotations

from .. import _flags


class _Matmul:
    """``torch.backends.cuda.matmul``; ``allow_tf32`` reads and writes blaze's TF32 switch."""

    @property
    def allow_tf32(self) -> bool:
        return _flags.allow_tf32

    @allow_tf32.setter
    def allow_tf32(self, value) -> None:
        _flags.allow_tf32 = bool(value)

    def __setattr__(self, name, value):
        if name != "allow_tf32":  # PyTorch: AttributeError("Unknown attribute " + name)
            raise AttributeError(f"Unknown attribute {name}")
        object.__setattr__(self, name, value)


matmul = _Matmul()


def is_built() -> bool:
    """True when the cuda device can load (Triton importable); no device is touched."""
    import importlib.util
    return importlib.util.find_spec("triton") is not None
