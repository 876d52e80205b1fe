"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: all 16 of PyTorch's.

The schedulers live in ``_lr_schedulers.py`` (the base class and the closed-form schedules) and
``_lr_cyclic.py`` (CyclicLR, CosineAnnealingWarmRestarts); this module is their public path, and
their ``__module__`` says so, as ``torch.optim.lr_scheduler.StepLR`` does.
"""
from . import _lr_cyclic, _lr_schedulers
from ._lr_cyclic import *  # noqa: F401,F403
from ._lr_schedulers import *  # noqa: F401,F403
from ._lr_schedulers import _per_group  # noqa: F401  (kept importable at its old path)

__all__ = [*_lr_schedulers.__all__, *_lr_cyclic.__all__]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
