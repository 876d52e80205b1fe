"""blaze.utils: PyTorch's ``torch.utils`` (``data``, ``dlpack``) and the dataset downloader.

Submodules load on first use so ``import blaze`` stays fast.
"""
from ._lazy import lazy_submodules

_LAZY_SUBMODULES = ("data", "dlpack", "download")

__all__ = list(_LAZY_SUBMODULES)

__getattr__ = lazy_submodules(__name__, _LAZY_SUBMODULES)
