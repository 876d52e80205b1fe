"""blaze.utils.data: PyTorch's ``torch.utils.data`` (datasets, samplers, the DataLoader).

Module paths match PyTorch's, so its imports work unchanged::

    from blaze.utils.data import DataLoader, Dataset, random_split
    from blaze.utils.data.distributed import DistributedSampler
    from blaze.utils.data._utils.collate import default_collate

Image datasets and transforms live in :mod:`blaze.vision` (torchvision's layout).
"""
from . import _utils
from ._utils.collate import default_collate, default_convert
from ._utils.worker import WorkerInfo, get_worker_info
from .dataloader import DataLoader
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset, Subset, TensorDataset,
                      random_split)
from .distributed import DistributedSampler
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "DistributedSampler", "IterableDataset",
    "RandomSampler", "Sampler", "SequentialSampler", "StackDataset", "Subset", "SubsetRandomSampler", "TensorDataset",
    "WeightedRandomSampler", "WorkerInfo", "default_collate", "default_convert", "get_worker_info", "random_split",
]
