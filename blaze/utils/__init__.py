"""blaze.utils: PyTorch's ``torch.utils`` (``data``, ``dlpack``) and the dataset downloader.

Submodules load on first use so ``import blaze`` stays fast.
"""
import importlib

_LAZY_SUBMODULES = ("data", "dlpack", "download")

__all__ = list(_LAZY_SUBMODULES)


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
