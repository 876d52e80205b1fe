"""blaze.data: datasets, samplers, the DataLoader, and (as submodules) transforms, datasets, utils.

The PyTorch counterparts are ``torch.utils.data`` and ``torchvision.{transforms,datasets,utils}``::

    from blaze.data import DataLoader
    from blaze.data import transforms as T
    from blaze.data.datasets import FashionMNIST

    ds = FashionMNIST(transform=T.Compose([T.ToTensor(), T.Normalize((0.286,), (0.353,))]))
    for images, labels in DataLoader(ds, batch_size=64, shuffle=True, num_workers=2):
        ...

``transforms``, ``datasets`` and ``utils`` import Pillow, so they load on first use.
"""
import importlib

from ._worker import WorkerInfo, get_worker_info
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)

_LAZY_SUBMODULES = ("transforms", "datasets", "utils")

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "DistributedSampler", "IterableDataset",
    "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
    "WeightedRandomSampler", "WorkerInfo", "default_collate", "default_convert", "get_worker_info",
    "random_split", *_LAZY_SUBMODULES,
]


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
