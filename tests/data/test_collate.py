"""default_collate / default_convert follow torch's rules."""
import collections

import numpy as np
import pytest

import blaze
from blaze.utils.data import default_collate, default_convert


def test_tensors_are_stacked():
    ts = [blaze.from_numpy(np.full((2, 3), i, np.float32)) for i in range(4)]
    out = default_collate(ts)
    assert isinstance(out, blaze.Tensor) and tuple(out.shape) == (4, 2, 3) and out.dtype == blaze.float32
    np.testing.assert_array_equal(out.numpy()[:, 0, 0], [0, 1, 2, 3])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([blaze.from_numpy(np.zeros(2)), blaze.from_numpy(np.zeros(3))])


def test_numpy_and_numbers():
    out = default_collate([np.zeros((2,), np.uint8), np.ones((2,), np.uint8)])
    assert out.dtype == blaze.uint8 and tuple(out.shape) == (2, 2)
    f = default_collate([0.5, 1.5])
    assert f.dtype == blaze.float64  # torch: Python floats collate to float64
    np.testing.assert_array_equal(f.numpy(), [0.5, 1.5])
    i = default_collate([3, 4])
    assert i.dtype == blaze.int64 and i.numpy().tolist() == [3, 4]
    s = default_collate([np.float32(1), np.float32(2)])
    assert s.dtype == blaze.float32 and s.numpy().tolist() == [1, 2]
    with pytest.raises(TypeError):
        default_collate([np.array(["a"], dtype=object)])


def test_containers():
    batch = [(np.zeros(2, np.float32), 1, "a"), (np.ones(2, np.float32), 2, "b")]
    x, y, s = default_collate(batch)
    assert tuple(x.shape) == (2, 2) and y.numpy().tolist() == [1, 2] and s == ["a", "b"]
    d = default_collate([{"x": 1, "y": [1.0, 2.0]}, {"x": 2, "y": [3.0, 4.0]}])
    assert d["x"].numpy().tolist() == [1, 2]
    assert [t.numpy().tolist() for t in d["y"]] == [[1.0, 3.0], [2.0, 4.0]]  # lists are transposed
    P = collections.namedtuple("P", "a b")
    p = default_collate([P(1, 2.0), P(3, 4.0)])
    assert isinstance(p, P) and p.a.numpy().tolist() == [1, 3]
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])


def test_default_convert_does_not_stack():
    out = default_convert((np.arange(3), "s", 1))
    assert isinstance(out, list) and isinstance(out[0], blaze.Tensor) and out[1:] == ["s", 1]
