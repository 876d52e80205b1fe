"""PyTorch's ``nn.modules.batchnorm`` path; blaze defines batch norm in ``normalization`` and ``syncbatchnorm``."""
from .normalization import BatchNorm1d, BatchNorm2d, BatchNorm3d, _BatchNorm, _NormBase
from .syncbatchnorm import SyncBatchNorm

# the private bases too: code tests isinstance(m, nn.modules.batchnorm._BatchNorm)
__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "_BatchNorm", "_NormBase"]
