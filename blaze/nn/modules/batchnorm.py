"""PyTorch's ``nn.modules.batchnorm`` path; blaze defines batch norm in ``normalization`` and ``syncbatchnorm``."""
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, _BatchNorm, _NormBase  # noqa: F401
from .syncbatchnorm import SyncBatchNorm

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm"]
