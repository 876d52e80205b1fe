"""blaze.vision: torchvision's layout — ``datasets``, ``transforms``, ``utils`` (make_grid, save_image).

    from blaze.vision import datasets, transforms
    from blaze.vision.utils import save_image

Submodules import Pillow, so each loads on first use. Models and ops join this package later.
"""
import importlib

_LAZY_SUBMODULES = ("datasets", "transforms", "utils")

__all__ = list(_LAZY_SUBMODULES)


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
