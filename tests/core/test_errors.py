"""Bad input raises PyTorch's error, with its type and words, at the API boundary, on both devices.

Messages were read off PyTorch 2.13 (CPU) and pasted here; the tests never import torch.
"""
import math
import re

import pytest

import blaze
import blaze.nn.functional as F

DEVICES = ["cpu", "cuda"]


def _raises(exc, msg):
    return pytest.raises(exc, match="^" + re.escape(msg) + "$")


def _function(name, forward, backward):
    """A custom autograd.Function built from two lambdas."""
    return type(name, (blaze.autograd.Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


# ------------------------------------------------------------------ accepted before, wrong result
@pytest.mark.parametrize("device", DEVICES)
def test_one_hot_rejects_out_of_range_classes(device):
    t = lambda v: blaze.tensor(v, device=device)  # noqa: E731
    with _raises(RuntimeError, "Class values must be smaller than num_classes."):
        F.one_hot(t([0, 3]), 3)
    with _raises(RuntimeError, "Class values must be non-negative."):
        F.one_hot(t([0, -1]), 3)
    with _raises(RuntimeError, "Class values must be non-negative."):
        F.one_hot(t([0, -1]))
    with _raises(RuntimeError, "Can not infer total number of classes from empty tensor."):
        F.one_hot(blaze.zeros(0, dtype=blaze.int64, device=device))
    assert F.one_hot(t([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    assert tuple(F.one_hot(blaze.zeros(0, dtype=blaze.int64, device=device), 3).shape) == (0, 3)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn", [
    lambda a, b: a // b, lambda a, b: a % b, blaze.floor_divide, blaze.remainder, blaze.fmod,
    lambda a, b: a.div(b, rounding_mode="floor"), lambda a, b: a.div(b, rounding_mode="trunc"),
], ids=["floordiv", "mod", "floor_divide", "remainder", "fmod", "div_floor", "div_trunc"])
def test_integer_division_by_zero_raises(device, fn):
    a = blaze.tensor([5, -3], device=device)
    with _raises(RuntimeError, "ZeroDivisionError"):
        fn(a, 0)
    with _raises(RuntimeError, "ZeroDivisionError"):
        fn(a, blaze.tensor([1, 0], device=device))
    assert fn(a, blaze.tensor([2, 2], device=device)).tolist() == fn(a, 2).tolist()


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("device", DEVICES)
def test_float_division_by_zero_still_gives_inf_and_nan(device):
    assert (blaze.tensor([5.0, -1.0], device=device) // 0).tolist() == [math.inf, -math.inf]
    assert (blaze.tensor([1, 2], device=device) // blaze.tensor([1.0, 0.0], device=device)).tolist() == [1.0, math.inf]


@pytest.mark.parametrize("device", DEVICES)
def test_randperm_negative_and_non_int(device):
    with _raises(RuntimeError, "Trying to create tensor with negative dimension -1: [-1]"):
        blaze.randperm(-1, device=device)
    with _raises(TypeError, "randperm(): argument 'n' (position 1) must be int, not float"):
        blaze.randperm(2.5, device=device)
    assert sorted(blaze.randperm(4, device=device).tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize("device", DEVICES)
def test_creation_sizes_must_be_ints(device):
    with _raises(TypeError, "ones(): argument 'size' (position 1) must be tuple of ints, not float"):
        blaze.ones(2.5, device=device)
    with _raises(TypeError, "empty(): argument 'size' (position 1) must be tuple of ints, not bool"):
        blaze.empty(True, device=device)
    with _raises(TypeError, "zeros(): argument 'size' failed to unpack the object at pos 2 with error "
                            "\"type must be tuple of ints,but got float\""):
        blaze.zeros((2, 2.5), device=device)
    with _raises(TypeError, "rand(): argument 'size' failed to unpack the object at pos 2 with error "
                            "\"type must be tuple of ints,but got float\""):
        blaze.rand(2, 2.0, device=device)
    import numpy as np
    assert tuple(blaze.ones(np.int64(2), blaze.tensor(3), device=device).shape) == (2, 3)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "var", "logsumexp"])
def test_repeated_reduction_dims_raise(device, reduce):
    x = blaze.ones(2, 3, device=device)
    with _raises(RuntimeError, "dim 0 appears multiple times in the list of dims"):
        getattr(x, reduce)(dim=(0, 0))
    with _raises(RuntimeError, "dim 1 appears multiple times in the list of dims"):
        getattr(x, reduce)(dim=(1, -1))
    assert tuple(getattr(x, reduce)(dim=(0, 1)).shape) == ()


_TooMany = _function("_TooMany", lambda ctx, x, k: x * k, lambda ctx, g: (g * 2, None, g))


_TrailingNone = _function("_TrailingNone", lambda ctx, x: x * 2, lambda ctx, g: (g * 2, None))


@pytest.mark.parametrize("device", DEVICES)
def test_custom_function_returning_too_many_gradients(device):
    x = blaze.tensor([1.0, 2.0], device=device, requires_grad=True)
    with _raises(RuntimeError, "function _TooManyBackward returned an incorrect number of gradients "
                               "(expected 2, got 3)"):
        _TooMany.apply(x, 2.0).sum().backward()
    _TrailingNone.apply(x).sum().backward()  # extra Nones are dropped, as PyTorch
    assert x.grad.tolist() == [2.0, 2.0]
    assert _TrailingNone.apply(x).grad_fn.name() == "_TrailingNoneBackward"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("requires_grad", [True, False])
def test_detach_inplace_on_a_view_raises(device, requires_grad):
    x = blaze.tensor([1.0, 2.0, 3.0], device=device, requires_grad=requires_grad)
    for v in (x[1:], (x * 1)[1:], x.view(3)):
        with _raises(RuntimeError, "Can't detach views in-place. Use detach() instead."):
            v.detach_()
    y = x * 1
    assert y.detach_() is y and not y.requires_grad and y.grad_fn is None


# ------------------------------------------------------------------ raw NumPy/Python errors before
@pytest.mark.parametrize("device", DEVICES)
def test_where_and_masked_fill_name_the_shapes_that_clash(device):
    t = lambda v: blaze.tensor(v, device=device)  # noqa: E731
    with _raises(RuntimeError, "The size of tensor a (2) must match the size of tensor b (3) at non-singleton "
                               "dimension 1"):
        blaze.where(t([[True, False]]), t([1.0, 2.0]), blaze.ones(3, 3, device=device))
    with _raises(RuntimeError, "The size of tensor a (3) must match the size of tensor b (2) at non-singleton "
                               "dimension 0"):
        t([1.0, 2.0, 3.0]).masked_fill_(t([True, False]), 0.0)
    with _raises(RuntimeError, "The size of tensor a (2) must match the size of tensor b (3) at non-singleton "
                               "dimension 0"):
        t([1.0, 2.0, 3.0]).masked_fill(t([True, False]), 0.0)
    x = t([1.0, 2.0, 3.0])
    with _raises(RuntimeError, "output with shape [3] doesn't match the broadcast shape [2, 3]"):
        x.masked_fill_(t([[True, False, True], [True, True, True]]), 0.0)
    assert x.tolist() == [1.0, 2.0, 3.0] and x._version[0] == 0
    assert x.masked_fill_(t(True), 0.0).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax, F.softmin])
def test_softmax_over_an_empty_dim_is_empty(device, fn):
    for shape, dim in (((2, 0), 1), ((3, 0, 2), 1), ((0, 3), 1)):
        x = blaze.zeros(*shape, device=device, requires_grad=True)
        y = fn(x, dim=dim)
        assert tuple(y.shape) == shape
        y.sum().backward()
        assert tuple(x.grad.shape) == shape
        (g,) = blaze.autograd.grad(fn(x, dim=dim).sum(), x, create_graph=True)
        assert tuple(g.shape) == shape


@pytest.mark.parametrize("device", DEVICES)
def test_median_of_empty(device):
    x = blaze.zeros(0, 2, device=device, requires_grad=True)
    m = x.median()
    assert math.isnan(m.item())
    m.backward()
    assert tuple(x.grad.shape) == (0, 2)
    assert blaze.zeros(0, dtype=blaze.int64, device=device).median().item() == -2 ** 63  # NaN cast, as PyTorch
    with _raises(IndexError, "median(): Expected reduction dim 0 to have non-zero size."):
        blaze.zeros(0, 3, device=device).median(dim=0)
    with _raises(IndexError, "median(): Expected reduction dim 1 to have non-zero size."):
        blaze.zeros(2, 0, device=device).median(dim=-1)
    assert tuple(blaze.zeros(2, 0, device=device).median(dim=0).values.shape) == (0,)


@pytest.mark.parametrize("device", DEVICES)
def test_eye_negative_and_non_int(device):
    with _raises(RuntimeError, "n must be greater or equal to 0, got -1"):
        blaze.eye(-1, device=device)
    with _raises(RuntimeError, "m must be greater or equal to 0, got -2"):
        blaze.eye(3, -2, device=device)
    with _raises(TypeError, "eye(): argument 'n' (position 1) must be int, not float"):
        blaze.eye(2.5, device=device)
    assert blaze.eye(2, 3, device=device).tolist() == [[1, 0, 0], [0, 1, 0]]


@pytest.mark.parametrize("device", DEVICES)
def test_repeat_negative(device):
    with _raises(RuntimeError, "Trying to create tensor with negative dimension -1: [-1, 2]"):
        blaze.tensor([1.0, 2.0], device=device).repeat(-1, 1)
    with _raises(RuntimeError, "Trying to create tensor with negative dimension -6: [4, -6]"):
        blaze.ones(2, 3, device=device).repeat(2, -2)
    assert tuple(blaze.zeros(0, device=device).repeat(-1).shape) == (0,)  # 0 * -1 is 0, as PyTorch


@pytest.mark.parametrize("device", DEVICES)
def test_arange_non_finite_and_step_sign(device):
    with _raises(RuntimeError, "unsupported range: 0 -> inf"):
        blaze.arange(0, math.inf, device=device)
    with _raises(RuntimeError, "unsupported range: -inf -> 0"):
        blaze.arange(-math.inf, 0, device=device)
    with _raises(RuntimeError, "unsupported range: 0 -> nan"):
        blaze.arange(0, math.nan, device=device)
    with _raises(RuntimeError, "upper bound and lower bound inconsistent with step sign"):
        blaze.arange(0, 5, -1, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("leaf", [True, False])
def test_hook_returning_a_non_tensor(device, leaf):
    x = blaze.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x if leaf else x * 2
    y.register_hook(lambda g: "bad")
    with _raises(TypeError, "expected Variable, but hook returned 'str'"):
        (y * 3).sum().backward()


_BadGrad = _function("_BadGrad", lambda ctx, x: x * 2, lambda ctx, g: 5)


_NonTensorOut = _function("_NonTensorOut", lambda ctx, x: 3, lambda ctx, g: g)


@pytest.mark.parametrize("device", DEVICES)
def test_custom_function_with_non_tensor_gradient_or_output(device):
    x = blaze.tensor([1.0, 2.0], device=device, requires_grad=True)
    with _raises(RuntimeError, "expected Variable or None (got int)"):
        _BadGrad.apply(x).sum().backward()
    assert _NonTensorOut.apply(x) == 3  # handed back as is, as PyTorch
