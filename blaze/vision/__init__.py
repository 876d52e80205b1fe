"""blaze.vision: torchvision's layout — ``datasets``, ``transforms``, ``utils`` (make_grid, save_image), ``io``.

    from blaze.vision import datasets, transforms
    from blaze.vision.utils import save_image

Submodules import Pillow, so each loads on first use. ``models`` holds torchvision's classification models; ops join later.
"""
from blaze.utils._lazy import lazy_submodules

_LAZY_SUBMODULES = ("datasets", "io", "models", "ops", "transforms", "utils")

__all__ = list(_LAZY_SUBMODULES)

__getattr__ = lazy_submodules(__name__, _LAZY_SUBMODULES)
