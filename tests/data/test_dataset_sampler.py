"""Datasets, random_split and samplers: semantics and reproducibility."""
import numpy as np
import pytest

import blaze
from blaze.utils.data import (BatchSampler, ConcatDataset, Dataset, RandomSampler, SequentialSampler, StackDataset,
                              Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler, random_split)


class Range(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i


def test_tensor_dataset():
    x = blaze.from_numpy(np.arange(12, dtype=np.float32).reshape(4, 3))
    y = blaze.from_numpy(np.arange(4))
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    a, b = ds[2]
    np.testing.assert_array_equal(a.numpy(), [6, 7, 8])
    assert b.item() == 2
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(x, blaze.from_numpy(np.arange(5)))


def test_stack_dataset_tuple_and_dict():
    ds = StackDataset(Range(3), TensorDataset(blaze.arange(3) * 10))
    assert len(ds) == 3 and ds[2][0] == 2 and ds[2][1][0].item() == 20
    named = StackDataset(a=Range(3), b=Range(3))
    assert named[1] == {"a": 1, "b": 1} and len(named) == 3
    with pytest.raises(ValueError, match="Size mismatch"):
        StackDataset(Range(3), Range(4))
    with pytest.raises(ValueError, match="both types are given"):
        StackDataset(Range(3), b=Range(3))
    with pytest.raises(ValueError, match="At least one dataset"):
        StackDataset()


def test_subset_and_concat():
    a, b = Range(3), Range(4)
    cat = a + b
    assert isinstance(cat, ConcatDataset) and len(cat) == 7
    assert [cat[i] for i in range(7)] == [0, 1, 2, 0, 1, 2, 3]
    assert cat[-1] == 3 and cat[-7] == 0
    with pytest.raises(IndexError):
        cat[7]
    with pytest.raises(IndexError):
        cat[-8]
    sub = Subset(cat, [6, 0, 3])
    assert len(sub) == 3 and [sub[i] for i in range(3)] == [3, 0, 0]


def test_random_split_counts_and_fractions():
    parts = random_split(Range(10), [3, 7], generator=blaze.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [3, 7]
    got = sorted(parts[0][i] for i in range(3)) + sorted(parts[1][i] for i in range(7))
    assert sorted(got) == list(range(10))
    # fractions: floor each (5, 3, 2) then the remainder of 1 goes to the first split
    assert [len(p) for p in random_split(Range(11), [0.5, 0.3, 0.2])] == [6, 3, 2]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(Range(10), [3, 3])


def test_random_split_reproducible():
    def order(seed):
        return [p.indices for p in random_split(Range(20), [0.5, 0.5], generator=blaze.Generator().manual_seed(seed))]
    assert order(1) == order(1)
    assert order(1) != order(2)


def test_sequential_and_random_sampler():
    assert list(SequentialSampler(Range(4))) == [0, 1, 2, 3]
    g = blaze.Generator().manual_seed(3)
    s = RandomSampler(Range(10), generator=g)
    e1, e2 = list(s), list(s)
    assert sorted(e1) == list(range(10)) and sorted(e2) == list(range(10))
    assert e1 != e2  # a fresh order each epoch
    assert list(RandomSampler(Range(10), generator=blaze.Generator().manual_seed(3))) == e1


def test_random_sampler_default_generator_follows_manual_seed():
    blaze.manual_seed(5)
    a = list(RandomSampler(Range(50)))
    blaze.manual_seed(5)
    assert list(RandomSampler(Range(50))) == a


def test_random_sampler_num_samples_and_replacement():
    s = RandomSampler(Range(4), num_samples=10, generator=blaze.Generator().manual_seed(0))
    out = list(s)
    assert len(out) == len(s) == 10
    counts = np.bincount(out, minlength=4)
    assert counts.min() >= 2  # two whole permutations, then 2 more from a third
    r = list(RandomSampler(Range(3), replacement=True, num_samples=100, generator=blaze.Generator().manual_seed(0)))
    assert len(r) == 100 and set(r) == {0, 1, 2}
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(Range(3), num_samples=0)


def test_subset_random_sampler():
    idx = [10, 20, 30, 40]
    out = list(SubsetRandomSampler(idx, generator=blaze.Generator().manual_seed(0)))
    assert sorted(out) == idx


def test_weighted_random_sampler():
    s = WeightedRandomSampler([0.0, 1.0, 3.0], 4000, generator=blaze.Generator().manual_seed(0))
    counts = np.bincount(list(s), minlength=3)
    assert counts[0] == 0
    assert abs(counts[2] / 4000 - 0.75) < 0.03
    no_rep = list(WeightedRandomSampler([1, 1, 1, 1], 4, replacement=False))
    assert sorted(no_rep) == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        WeightedRandomSampler([1.0, -1.0], 3)
    with pytest.raises(ValueError):
        WeightedRandomSampler([1.0, 0.0], 2, replacement=False)


def test_batch_sampler():
    assert list(BatchSampler(SequentialSampler(Range(5)), 2, drop_last=False)) == [[0, 1], [2, 3], [4]]
    bs = BatchSampler(SequentialSampler(Range(5)), 2, drop_last=True)
    assert list(bs) == [[0, 1], [2, 3]] and len(bs) == 2
    assert len(BatchSampler(SequentialSampler(Range(5)), 2, drop_last=False)) == 3
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(SequentialSampler(Range(5)), 0, drop_last=False)
