"""Old path of :mod:`blaze.vision.datasets` (torchvision.datasets) plus the text :class:`CharDataset`."""
from blaze.vision.datasets import *  # noqa: F401,F403
from blaze.vision.datasets import __all__ as _VISION_ALL
from blaze.vision.datasets.mnist import BUNDLED_DIR, DEBIAN_FASHION_MNIST, MAX_IDX_BYTES  # noqa: F401

from .text import CharDataset

__all__ = [*_VISION_ALL, "CharDataset"]
