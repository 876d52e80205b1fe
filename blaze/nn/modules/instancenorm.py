"""PyTorch's ``nn.modules.instancenorm`` path; blaze defines instance norm in ``normalization``."""
from .normalization import InstanceNorm1d, InstanceNorm2d, _InstanceNorm

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "_InstanceNorm"]
