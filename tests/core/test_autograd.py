"""Autograd semantics: accumulation, retain_graph, create_graph, grad modes, hooks, custom Functions,
version-counter errors, freed graphs."""
import numpy as np
import pytest

import blaze
from blaze.autograd import Function


def leaf(*vals):
    return blaze.tensor(list(vals), requires_grad=True)


def test_grad_accumulates_across_backward_calls():
    x = leaf(1.0, 2.0)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]


def test_shared_input_gradient_objects_are_independent():
    a, b = leaf(1.0), leaf(2.0)
    (a + b).backward()
    a.grad += 10
    assert b.grad.tolist() == [1.0]


def test_retain_graph_allows_second_backward_and_freed_graph_raises():
    x = leaf(1.0, 2.0)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (np.exp([1, 2]) * (1 + np.array([1, 2]))), rtol=1e-6)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_backward_nonscalar_needs_gradient():
    x = leaf(1.0, 2.0)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(blaze.tensor([1.0, 0.5]))
    assert x.grad.tolist() == [2.0, 1.0]
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(blaze.tensor([1.0, 0.5, 2.0]))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        blaze.ones(2).sum().backward()


def test_autograd_grad_does_not_touch_dot_grad_and_allow_unused():
    x, z = leaf(1.0, 2.0), leaf(3.0)
    (g,) = blaze.autograd.grad((x ** 2).sum(), x)
    assert g.tolist() == [2.0, 4.0] and x.grad is None
    with pytest.raises(RuntimeError, match="appears to not have been used"):
        blaze.autograd.grad((x ** 2).sum(), [x, z])
    gx, gz = blaze.autograd.grad((x ** 2).sum(), [x, z], allow_unused=True)
    assert gz is None


def test_create_graph_third_derivative():
    x = leaf(2.0)
    (g1,) = blaze.autograd.grad(x ** 4, x, create_graph=True)
    (g2,) = blaze.autograd.grad(g1, x, create_graph=True)
    (g3,) = blaze.autograd.grad(g2, x)
    assert (g1.item(), g2.item(), g3.item()) == (32.0, 48.0, 48.0)


def test_no_grad_enable_grad_set_grad_enabled_inference_mode():
    x = leaf(1.0)
    with blaze.no_grad():
        y = x * 2
        with blaze.enable_grad():
            z = x * 2
    assert not y.requires_grad and z.requires_grad and y.grad_fn is None

    @blaze.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad
    with blaze.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert blaze.is_grad_enabled()
    blaze.set_grad_enabled(False)
    assert not blaze.is_grad_enabled()
    blaze.set_grad_enabled(True)
    with blaze.inference_mode():
        assert not (x + 1).requires_grad
    assert (x + 1).requires_grad


def test_detach_requires_grad_and_leaf_flags():
    x = leaf(1.0, 2.0)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.grad_fn.name() == "MulBackward0"
    d = y.detach()
    assert d.is_leaf and not d.requires_grad
    d.requires_grad_()
    assert d.requires_grad
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
        y.requires_grad = False
    with pytest.raises(RuntimeError, match="floating point"):
        blaze.tensor([1, 2]).requires_grad_()


def test_retain_grad_and_hooks():
    x = leaf(1.0, 2.0)
    y = x * 3
    y.retain_grad()
    seen = []
    h = y.register_hook(lambda g: seen.append(g.tolist()))
    x.register_hook(lambda g: g * 10)
    (y * y).sum().backward()
    assert y.grad.tolist() == [6.0, 12.0] and seen == [[6.0, 12.0]]
    assert x.grad.tolist() == [180.0, 360.0]
    h.remove()
    x.grad, seen[:] = None, []
    (y * y).sum().backward()
    assert seen == [] and x.grad.tolist() == [180.0, 360.0]


def test_custom_function_with_ctx():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.k = k
            return x ** 3 * k

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False)
            return g * 3 * x ** 2 * ctx.k, None

    x = leaf(1.0, 2.0)
    y = Cube.apply(x, 2.0)
    assert y.grad_fn is not None and y.tolist() == [2.0, 16.0]
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 24.0]


def test_custom_function_double_backward():
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = leaf(3.0)
    (g,) = blaze.autograd.grad(Square.apply(x), x, create_graph=True)
    (gg,) = blaze.autograd.grad(g, x)
    assert g.item() == 6.0 and gg.item() == 2.0


def test_version_counter_error_on_modified_saved_tensor():
    x = leaf(1.0, 2.0)
    y = x.exp()
    z = y * 2  # does not save y: in-place on y is fine for z
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (y + z).sum().backward()


def test_inplace_on_leaf_requiring_grad_and_its_view_raise():
    x = leaf(1.0, 2.0)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.mul_(2)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        x[0].mul_(2)
    assert x.tolist() == [1.0, 2.0]
    with blaze.no_grad():
        x.mul_(2)
    assert x.tolist() == [2.0, 4.0]


def test_views_share_memory_and_version():
    x = blaze.zeros(3, 4)
    y = x[0]
    y += 1
    assert x[0].tolist() == [1.0] * 4 and x._version_counter == 1
    t = x.t()
    t[1, 2] = 5
    assert x[2, 1].item() == 5
    r = x.reshape(12)
    r[0] = 7
    assert x[0, 0].item() == 7
    e = blaze.zeros(3)
    f = e.unsqueeze(0).expand(2, 3)
    assert f.shape == (2, 3)
    s = x[:, 1::2]
    s.zero_()
    assert x[:, 1].tolist() == [0, 0, 0]


def test_from_numpy_and_numpy_share_memory():
    a = np.zeros(3, dtype=np.float32)
    t = blaze.from_numpy(a)
    t[1] = 4
    assert a[1] == 4
    t.numpy()[2] = 9
    assert t[2].item() == 9
    with pytest.raises(RuntimeError, match="requires grad"):
        leaf(1.0).numpy()


def test_gradient_of_broadcast_and_reused_inputs():
    x = leaf(1.0, 2.0, 3.0)
    m = blaze.ones(2, 3, requires_grad=True)
    ((m * x) + x).sum().backward()
    assert x.grad.tolist() == [4.0, 4.0, 4.0] and m.grad.tolist() == [[1, 2, 3], [1, 2, 3]]


def test_setitem_with_grad_into_buffer_not_requiring_grad():
    w = leaf(1.0, 2.0, 3.0)
    buf = blaze.zeros(2, 3)
    buf[1] = w * 2
    (buf ** 2).sum().backward()
    assert w.grad.tolist() == [8.0, 16.0, 24.0]


def test_copy_slices_gradient_splits_between_old_base_and_new_view():
    a = leaf(1.0, 2.0, 3.0)
    b = leaf(5.0)
    y = a * 2
    y[1:2] = b * 3
    (y * blaze.tensor([1.0, 10.0, 100.0])).sum().backward()
    assert a.grad.tolist() == [2.0, 0.0, 200.0] and b.grad.tolist() == [30.0]


def test_one_gradient_object_reaching_two_leaves_is_copied():
    a, b = leaf(1.0), leaf(2.0)
    ((a + b) * 3).backward()
    a.grad += 10
    assert b.grad.tolist() == [3.0]


def test_graph_makes_no_reference_cycles():
    import gc
    x = leaf(0.5, 1.5)
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            y = (x.exp() * x.sigmoid()).tanh().sum()  # ops that save their outputs
            y.backward()
            z = blaze.tensor([1.0, 2.0], requires_grad=True)  # a fresh leaf each step
            (z * 2).sum().backward()
        del y, z
        assert gc.collect() == 0  # everything was freed by reference counting
    finally:
        gc.enable()


def test_saved_output_is_reattached_for_double_backward():
    x = leaf(0.3)
    y = x.exp()
    (g,) = blaze.autograd.grad(y, x, create_graph=True)  # g = y, through the saved output
    (gg,) = blaze.autograd.grad(g, x)
    assert abs(gg.item() - np.exp(0.3)) < 1e-6


def test_gradient_has_its_inputs_dtype_across_promotion():
    # `x_fp32 + f(h_bf16)`: the promoted float32 gradient reaches f's node cast back to bfloat16, as
    # PyTorch's engine does; without the cast a bf16 Linear's backward mixed float32 and bfloat16
    x = blaze.randn(3, 4, requires_grad=True)
    h0 = blaze.randn(3, 4, dtype=blaze.bfloat16, requires_grad=True)
    seen = []
    h = h0 * 2
    h.register_hook(lambda g: seen.append(g.dtype))
    (x + h).sum().backward()
    assert seen == [blaze.bfloat16] and h0.grad.dtype == blaze.bfloat16 and x.grad.dtype == blaze.float32
    lin = blaze.nn.Linear(4, 4).to(blaze.bfloat16)
    z = x + lin(x.to(blaze.bfloat16))
    z.sum().backward()
    assert lin.weight.grad.dtype == blaze.bfloat16 and x.grad.dtype == blaze.float32
