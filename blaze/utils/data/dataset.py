"""Datasets: the map-style and iterable protocols plus the usual combinators (torch.utils.data names)."""
from __future__ import annotations

import bisect
import math
from typing import Iterable, Sequence

import blaze


class Dataset:
    """A map-style dataset: ``__getitem__(index)`` and usually ``__len__``.

    Example::

        class Squares(Dataset):
            def __len__(self): return 10
            def __getitem__(self, i): return i, i * i
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: implement ``__iter__``.

    With ``num_workers > 0`` every worker iterates its own copy; use
    :func:`blaze.utils.data.get_worker_info` inside ``__iter__`` to give each worker its shard.
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Iterates several iterable datasets one after the other."""

    def __init__(self, datasets: Iterable[IterableDataset]):
        self.datasets = list(datasets)

    def __iter__(self):
        for d in self.datasets:
            yield from d


class TensorDataset(Dataset):
    """Wraps tensors that share their first dimension; item ``i`` is ``tuple(t[i] for t in tensors)``."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = [t.shape[0] for t in tensors]
        if any(s != sizes[0] for s in sizes):
            raise ValueError(f"Size mismatch between tensors: first dimensions are {sizes}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class StackDataset(Dataset):
    """Datasets of one length read side by side: ``StackDataset(a, b)[i] == (a[i], b[i])``,
    ``StackDataset(image=a, text=b)[i] == {"image": a[i], "text": b[i]}``.
    """

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) like input/"
                             "output, but both types are given.")
        datasets = args or tuple(kwargs.values())
        if not datasets:
            raise ValueError("At least one dataset should be passed")
        lengths = [len(d) for d in datasets]
        if any(n != lengths[0] for n in lengths):
            raise ValueError("Size mismatch between datasets")
        self._length = lengths[0]
        self.datasets = args if args else kwargs

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self):
        return self._length


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Map-style datasets one after another: index ``len(a)`` is ``b[0]``."""

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset (use ChainDataset)")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise IndexError(f"index {idx} is out of range for a dataset of size {len(self)}")
            idx += len(self)
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        if d == len(self.datasets):
            raise IndexError(f"index {idx} is out of range for a dataset of size {len(self)}")
        start = self.cumulative_sizes[d - 1] if d > 0 else 0
        return self.datasets[d][idx - start]


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """Fractions -> counts as torch does: floor each, then hand the remainder out round-robin."""
    # torch's rule: anything summing to 1 is fractions ([1] or [0, 1] as counts gives the same split)
    if math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1: {frac}")
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        return counts
    return [int(x) for x in lengths]


def random_split(dataset: Dataset, lengths: Sequence[float], generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s.

    Args:
        lengths: item counts summing to ``len(dataset)``, or fractions summing to 1.
        generator: a ``blaze.Generator``; the default generator when None.

    Example: ``train, val = random_split(ds, [0.9, 0.1], generator=blaze.Generator().manual_seed(0))``
    """
    n = len(dataset)
    counts = _split_lengths(n, lengths)
    if any(c < 0 for c in counts):
        raise ValueError(f"lengths must be non-negative, got {list(lengths)}")
    if sum(counts) != n:
        raise ValueError(f"Sum of input lengths ({sum(counts)}) does not equal the length of the input dataset ({n})")
    perm = blaze.random.numpy_rng(generator).permutation(n).tolist()
    out, offset = [], 0
    for c in counts:
        out.append(Subset(dataset, perm[offset:offset + c]))
        offset += c
    return out
