"""Old path of :mod:`blaze.vision.utils` (torchvision.utils); the same module object."""
import sys

from blaze.vision import utils as _moved

sys.modules[__name__] = _moved
