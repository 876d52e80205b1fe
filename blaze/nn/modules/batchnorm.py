"""PyTorch's ``nn.modules.batchnorm`` path; blaze defines batch norm in ``normalization`` and ``syncbatchnorm``."""
from .lazy import LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, _BatchNorm, _NormBase
from .syncbatchnorm import SyncBatchNorm

# the private bases too: code tests isinstance(m, nn.modules.batchnorm._BatchNorm)
__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "_BatchNorm", "_NormBase",
           "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d"]
