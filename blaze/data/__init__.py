"""blaze.data: the pre-PyTorch-layout name, kept as a thin re-export so old imports keep working.

New code imports where PyTorch keeps things:

| blaze.data (old)                  | now (PyTorch's path)                                     |
| --------------------------------- | -------------------------------------------------------- |
| ``blaze.data.DataLoader`` etc.    | ``blaze.utils.data`` (``torch.utils.data``)              |
| ``blaze.data.{dataset,sampler,dataloader,distributed}`` | ``blaze.utils.data.<same name>`` |
| ``blaze.data.collate``            | ``blaze.utils.data._utils.collate``                      |
| ``blaze.data.{transforms,utils}`` | ``blaze.vision.{transforms,utils}`` (``torchvision``)    |
| ``blaze.data.datasets``           | ``blaze.vision.datasets`` plus :class:`CharDataset`      |

The old submodule names are the very same module objects as the new ones (``sys.modules``
aliases), so patching either path patches both. ``transforms``, ``datasets`` and ``utils``
import Pillow, so they load on first use.
"""
import sys

from blaze.utils._lazy import lazy_submodules
from blaze.utils.data import *  # noqa: F401,F403  (the public names of torch.utils.data)
from blaze.utils.data import __all__ as _DATA_ALL
from blaze.utils.data import _utils, dataloader, dataset, distributed, sampler

# old submodule path -> the module it now is; the Pillow-free ones are aliased at import
_MOVED = {"dataset": dataset, "sampler": sampler, "dataloader": dataloader, "distributed": distributed,
          "collate": _utils.collate, "_worker": _utils.worker}
for _old, _module in _MOVED.items():
    sys.modules[f"{__name__}.{_old}"] = _module
    globals()[_old] = _module

_LAZY_SUBMODULES = ("transforms", "datasets", "utils")

__all__ = [*_DATA_ALL, *_LAZY_SUBMODULES]

__getattr__ = lazy_submodules(__name__, _LAZY_SUBMODULES)
