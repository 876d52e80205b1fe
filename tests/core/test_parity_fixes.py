"""Cases where a NumPy-written reference had missed PyTorch's semantics (found by perf/torch_parity.py).

Expected numbers were computed with PyTorch 2.13 and pasted here; the tests never import torch.
"""
import numpy as np

import blaze
from tests.core.oracle import arr, check


def test_cumprod_negative_inputs_and_zero_gradient():
    x = blaze.tensor([-1.0, 2.0, -3.0], requires_grad=True)
    assert x.cumprod(0).tolist() == [-1.0, -2.0, 6.0]
    t = blaze.tensor([[2.0, 0.0, 3.0, 4.0]], requires_grad=True)
    t.cumprod(1).sum().backward()
    assert t.grad.tolist() == [[1.0, 32.0, 0.0, 0.0]]
    check(lambda a: a.cumprod(1), lambda a: np.cumprod(a, 1), arr(2, 4, 3))


def test_median_without_dim_shares_gradient_among_ties():
    m = blaze.tensor([2.0, 2.0, 2.0, 2.0], requires_grad=True)
    m.median().backward()
    assert m.grad.tolist() == [0.25] * 4
    assert blaze.tensor([3.0, 1.0, 2.0, 4.0]).median().item() == 2.0


def test_diagonal_offset_on_3d():
    x = blaze.arange(24).reshape(2, 3, 4)
    assert blaze.diagonal(x, 1, 1, 2).tolist() == [[1, 6, 11], [13, 18, 23]]
    assert blaze.diagonal(x, -1, 1, 2).tolist() == [[4, 9], [16, 21]]
    check(lambda a: a.diagonal(1, 0, 2), lambda a: np.diagonal(a, 1, 0, 2), arr(3, 2, 4))


def test_circular_pad_with_negative_amount_crops_first():
    x = blaze.arange(4.0).reshape(1, 1, 4)
    assert blaze.nn.functional.pad(x, (-1, 2), mode="circular").tolist() == [[[1.0, 2.0, 3.0, 1.0, 2.0]]]


def test_round_decimals():
    np.testing.assert_allclose(blaze.tensor([1.2345, -0.125]).round(decimals=2).numpy(), [1.23, -0.12], rtol=1e-6)


def test_scatter_reduce_matches_pytorch():
    x = blaze.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    src = blaze.tensor([5.0, 1.0, 7.0, 2.0, 9.0], requires_grad=True)
    idx = blaze.tensor([0, 1, 0, 1, 2])
    expected = {("sum", True): [13.0, 5.0, 12.0, 4.0], ("prod", False): [35.0, 2.0, 9.0, 4.0],
                ("mean", False): [6.0, 1.5, 9.0, 4.0], ("amax", True): [7.0, 2.0, 9.0, 4.0],
                ("amin", False): [5.0, 1.0, 9.0, 4.0]}
    for (red, inc), want in expected.items():
        assert x.scatter_reduce(0, idx, src, red, include_self=inc).tolist() == want
    # amax ties: PyTorch counts a tying self value even with include_self=False
    a = blaze.tensor([3.0, 1.0], requires_grad=True)
    s = blaze.tensor([3.0, 3.0, 2.0], requires_grad=True)
    a.scatter_reduce(0, blaze.tensor([0, 0, 1]), s, "amax", include_self=False).sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), [1 / 3, 1 / 3, 1.0], rtol=1e-6)
    assert a.grad.tolist() == [0.0, 0.0]
