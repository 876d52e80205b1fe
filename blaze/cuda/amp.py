"""``torch.cuda.amp``: the cuda spellings of :mod:`blaze.amp` (one implementation there)."""
from __future__ import annotations

from ..amp import GradScaler  # noqa: F401


def autocast(enabled: bool = True, dtype=None, cache_enabled=None):
    """``torch.cuda.amp.autocast``: :class:`blaze.autocast` with ``device_type="cuda"`` (default float16)."""
    from ..amp import autocast as _autocast
    from ..dtypes import float16
    return _autocast("cuda", float16 if dtype is None else dtype, enabled)


__all__ = ["GradScaler", "autocast"]
