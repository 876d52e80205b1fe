"""In-place writes in the graph (issue 11 §2): what PyTorch records, blaze records.

The op x value x target table is in test_ops_oracle.INPLACE (finite differences, and its cuda
rerun); these pin the cases that table cannot express: errors, grad flags, version checks.
"""
import numpy as np
import pytest

import blaze
import blaze.nn.functional as F


def _grad(write):
    x = blaze.ones(2, 3, requires_grad=True)
    y = x * 1
    write(y)
    y.sum().backward()
    return x.grad.numpy()


@pytest.mark.parametrize("write", [
    lambda y: y.__setitem__(1, 0),
    lambda y: y.__setitem__(1, blaze.tensor(0.0)),
    lambda y: y[1].fill_(5.0),
    lambda y: y[1].zero_(),
    lambda y: y[1:][0].fill_(blaze.tensor(2.0)),
    lambda y: y.__setitem__((1, [0, 1, 2]), 0.0),
], ids=["setitem-num", "setitem-0d", "fill_-view", "zero_-view", "fill_-view-of-view", "setitem-array"])
def test_issue_example_row_overwritten_gets_no_gradient(write):
    np.testing.assert_array_equal(_grad(write), [[1, 1, 1], [0, 0, 0]])


def test_scalar_write_on_columns_and_strided_views():
    np.testing.assert_array_equal(_grad(lambda y: y.__setitem__((slice(None), 1), 0.0)), [[1, 0, 1], [1, 0, 1]])
    np.testing.assert_array_equal(_grad(lambda y: y[:, 2:].fill_(1.0)), [[1, 1, 0], [1, 1, 0]])
    np.testing.assert_array_equal(_grad(lambda y: y.t()[::2].zero_()), [[0, 1, 0], [0, 1, 0]])


def test_whole_non_leaf_overwritten_stays_in_graph_with_zero_gradient():
    x = blaze.ones(2, 3, requires_grad=True)
    y = x * 1
    y.zero_()
    assert y.requires_grad and y.grad_fn is not None  # as PyTorch: still part of the graph
    (y + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))


def test_clamp_on_view_of_non_leaf_uses_values_before_the_write():
    x = blaze.tensor([[1.0, -2.0, 3.0], [0.2, -0.7, 0.9]], requires_grad=True)
    y = x * 1
    y[:, :2].clamp_(-0.5, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 1], [1, 0, 1]])


def test_in_place_view_ops_keep_the_graph():
    x = blaze.ones(2, 3, requires_grad=True)
    y = x * 1
    v = y[0:1]
    v.t_()
    assert tuple(v.shape) == (3, 1)
    v[1].mul_(2.0)  # rebuilt from the base through the transpose: element (0, 1) of y
    (y * blaze.arange(6.0).reshape(2, 3)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 2, 2], [3, 4, 5]])
    z = x * 1
    z.unsqueeze_(0)
    assert z.grad_fn is not None and tuple(z.shape) == (1, 2, 3)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x.t_()


def test_mul_by_itself_in_place():
    x = blaze.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x * 1
    y.mul_(y)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -4.0, 6.0])


def test_write_over_a_tensor_saved_elsewhere_still_raises():
    x = blaze.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y * y  # saves y
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


@pytest.mark.parametrize("write", [
    lambda x: x.add_(1), lambda x: x.fill_(0), lambda x: x.zero_(), lambda x: x.__setitem__(0, 1.0),
    lambda x: x.clamp_(0, 1), lambda x: x.index_fill_(0, blaze.tensor([0]), 1.0),
    lambda x: F.relu(x, inplace=True),
])
def test_leaf_requiring_grad_raises_pytorch_error(write):
    x = blaze.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        write(x)
    np.testing.assert_array_equal(x.detach().numpy(), np.ones((2, 3)))  # nothing half-written
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[0].fill_(2.0)
    with blaze.no_grad():
        write(x)
    assert x.is_leaf and x.requires_grad


def test_index_fill_values_and_gradients():
    x = blaze.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    v = blaze.tensor(2.0, requires_grad=True)
    out = x.index_fill(1, blaze.tensor([1, 3, 1]), v)
    ref = np.arange(12.0).reshape(3, 4)
    ref[:, [1, 3]] = 2.0
    np.testing.assert_array_equal(out.detach().numpy(), ref)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.tile([1.0, 0, 1, 0], (3, 1)))
    assert v.grad.item() == 6.0  # each filled element once, though index 1 repeats
    y = x * 1
    assert y.index_fill_(0, blaze.tensor(2), -1.0) is y
    np.testing.assert_array_equal(y[2].detach().numpy(), [-1.0] * 4)


def test_index_fill_errors():
    x = blaze.zeros(3, 4)
    with pytest.raises(RuntimeError, match="Expected dtype int64 for index"):
        x.index_fill_(0, blaze.tensor([0.0]), 1.0)
    with pytest.raises(IndexError, match="Index has to be a vector/scalar"):
        x.index_fill_(0, blaze.tensor([[0]]), 1.0)
    with pytest.raises(RuntimeError, match="0-dimensional value tensor"):
        x.index_fill_(0, blaze.tensor([0]), blaze.tensor([1.0]))
    with pytest.raises(IndexError, match="out of bounds"):
        x.index_fill_(1, blaze.tensor([4]), 1.0)
    np.testing.assert_array_equal(x.numpy(), np.zeros((3, 4)))


def test_tensor_softmax_and_log_softmax_methods():
    x = blaze.tensor(np.random.default_rng(0).standard_normal((2, 3)))
    np.testing.assert_allclose(x.softmax(0).numpy(), F.softmax(x, 0).numpy())
    np.testing.assert_allclose(x.log_softmax(-1).numpy(), F.log_softmax(x, -1).numpy())
    assert x.softmax(1, dtype=blaze.float64).dtype is blaze.float64
    np.testing.assert_allclose(x.softmax(1).sum(1).numpy(), [1.0, 1.0])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("fill", [lambda t: t.uniform_(), lambda t: t.normal_(), lambda t: t.bernoulli_(),
                                  lambda t: t.random_(0, 5), lambda t: t.exponential_()],
                         ids=["uniform_", "normal_", "bernoulli_", "random_", "exponential_"])
def test_random_fill_of_a_view_cuts_gradient_there(fill, device):
    x = blaze.ones(2, 3, requires_grad=True, device=device)
    y = x * 1
    fill(y[:, 1])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.cpu().numpy(), [[1, 0, 1], [1, 0, 1]])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_index_fill_and_softmax_methods_on_device(device):
    x = blaze.tensor(np.arange(6.0).reshape(2, 3), dtype=blaze.float32, requires_grad=True, device=device)
    v = blaze.tensor(-1.0, dtype=blaze.float32, requires_grad=True, device=device)
    y = x * 1
    y.index_fill_(1, blaze.tensor([2, 0, 2], device=device), v)
    assert y.device.type == device
    (y.softmax(1) * blaze.tensor([[1.0, 2, 3], [4, 5, 6]], device=device)).sum().backward()
    ref = np.array([[-1.0, 1, -1], [-1, 4, -1]])
    e = np.exp(ref - ref.max(1, keepdims=True))
    s = e / e.sum(1, keepdims=True)
    w = np.array([[1.0, 2, 3], [4, 5, 6]])
    gy = s * (w - (w * s).sum(1, keepdims=True))
    np.testing.assert_allclose(x.grad.cpu().numpy(), np.where([[0, 1, 0]] * 2, gy, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v.grad.cpu().numpy(), gy[:, [0, 2]].sum(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.log_softmax(0).detach().cpu().numpy(),
                               ref - np.log(np.exp(ref).sum(0, keepdims=True)), rtol=1e-5)
