"""Tensor memory/layout queries, resize_, the extra random fills, apply_/map_ (blaze/ops/tensor_info.py)."""
import numpy as np
import pytest

import blaze
from tests.core.oracle import arr, check


def test_layout_queries_follow_the_numpy_array():
    x = blaze.arange(12.0).reshape(3, 4)
    a = x.numpy()
    assert x.data_ptr() == a.__array_interface__["data"][0] == x.const_data_ptr()
    assert x[1:, 2:].storage_offset() == 6 and x.storage_offset() == 0
    assert x.t().dim_order() == (1, 0) and x.dim_order() == (0, 1)
    assert (x.nbytes, x.itemsize, x.get_device()) == (48, 4, -1)
    assert not x.is_pinned() and x.pin_memory() is x


def test_sum_to_size_is_the_broadcast_undone():
    check(lambda a: a.sum_to_size(1, 4), lambda a: a.sum(0, keepdims=True), arr(3, 4))
    with pytest.raises(RuntimeError, match="is not expandable to size"):
        blaze.ones(3, 4).sum_to_size(2, 4)


def test_resize_keeps_leading_elements():
    y = blaze.arange(6.0)
    assert y.resize_(2, 2).tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert y.resize_as_(blaze.ones(5)).tolist() == [0.0, 1.0, 2.0, 3.0, 0.0]
    with pytest.raises(RuntimeError, match="require grad"):
        blaze.ones(2, requires_grad=True).resize_(3)


def test_random_fills_have_their_distributions():
    blaze.manual_seed(0)
    c = blaze.empty(20000, dtype=blaze.float64).cauchy_(median=1.0, sigma=2.0).numpy()
    assert abs(np.median(c) - 1.0) < 0.1 and abs(np.percentile(c, 75) - np.percentile(c, 25) - 4.0) < 0.3
    ln = np.log(blaze.empty(20000, dtype=blaze.float64).log_normal_(0.5, 0.25).numpy())
    assert abs(ln.mean() - 0.5) < 0.01 and abs(ln.std() - 0.25) < 0.01
    g = blaze.empty(20000).geometric_(0.25).numpy()
    assert g.min() >= 1 and abs(g.mean() - 4.0) < 0.1
    with pytest.raises(RuntimeError, match=r"in \(0, 1\)"):
        blaze.empty(2).geometric_(1.5)


def test_apply_and_map_call_python_per_element():
    assert blaze.tensor([1.0, 2.0]).apply_(lambda v: v * 10).tolist() == [10.0, 20.0]
    assert blaze.tensor([[1, 2], [3, 4]]).map_(blaze.tensor([10, 20]), lambda a, b: a + b).tolist() == \
        [[11, 22], [13, 24]]
    assert blaze.tensor([0.2, -1.0]).hardshrink(0.5).tolist() == [0.0, -1.0]


def test_is_signed_and_as_subclass():
    assert blaze.ones(1).is_signed() and not blaze.ones(1, dtype=blaze.uint8).is_signed()

    class Tagged(blaze.Tensor):
        pass
    x = blaze.ones(3, requires_grad=True)
    y = (x * 2).as_subclass(Tagged)
    assert type(y) is Tagged and y.tolist() == [2.0, 2.0, 2.0]
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(TypeError, match="subclass of Tensor"):
        x.as_subclass(int)
