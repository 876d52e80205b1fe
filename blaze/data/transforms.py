"""Old path of :mod:`blaze.vision.transforms` (torchvision.transforms); the same module object."""
import sys

from blaze.vision import transforms as _moved

sys.modules[__name__] = _moved
