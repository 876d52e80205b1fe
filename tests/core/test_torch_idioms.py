"""Idioms that published PyTorch programs use (found running pytorch/examples on blaze; perf/dropin_programs.md)."""
import warnings

import numpy as np
import pytest

import blaze


def test_range_is_an_index_sequence():
    # mnist_forward_forward: x_[range(x.shape[0]), y] = x.max()
    x = blaze.arange(12.0).view(3, 4)
    assert x[range(3), [0, 1, 2]].tolist() == [0.0, 5.0, 10.0]
    assert x[range(1, 3)].shape == (2, 4)
    x[range(3), blaze.tensor([3, 2, 1])] = -1.0
    assert x.numpy()[[0, 1, 2], [3, 2, 1]].tolist() == [-1.0, -1.0, -1.0]
    assert x[range(0)].shape == (0, 4) and x[[]].shape == (0, 4)


def test_range_index_is_differentiable():
    w = blaze.ones(3, 2, requires_grad=True)
    w[range(3), [0, 1, 0]].sum().backward()
    assert w.grad.tolist() == [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]


@pytest.mark.parametrize("call, expected", [
    (lambda x, g: x.add(-2, g), [-2.0, -4.0]),
    (lambda x, g: blaze.add(x, 3, g), [3.0, 6.0]),
    (lambda x, g: x.sub(0.5, g), [-0.5, -1.0]),
    (lambda x, g: x.addcmul(2, g, g), [2.0, 8.0]),
    (lambda x, g: x.addcdiv(2, g, g + 1), [1.0, 4.0 / 3.0]),
])
def test_scalar_first_overloads_warn_and_match_keyword_form(call, expected):
    # word_language_model: p.data.add_(-lr, p.grad.data); PyTorch 2.13 accepts it with a warning
    x, g = blaze.zeros(2), blaze.tensor([1.0, 2.0])
    with pytest.warns(UserWarning, match="deprecated"):
        out = call(x, g)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


def test_scalar_first_in_place_updates_the_tensor():
    p, g = blaze.ones(3), blaze.full((3,), 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p.add_(-0.5, g)
    assert p.tolist() == [0.0, 0.0, 0.0]


def test_scalar_first_refuses_other_combinations():
    x = blaze.zeros(2)
    with pytest.raises(TypeError, match="invalid combination"):
        x.add(x, x)
    with pytest.raises(TypeError, match="invalid combination"):
        x.addcmul(2, x, 3)


def test_legacy_tensor_type_constructors():
    a = blaze.LongTensor(6).zero_().view(-1, 2)  # word_language_model's ONNX export
    assert a.dtype == blaze.int64 and a.shape == (3, 2) and a.sum().item() == 0
    assert blaze.FloatTensor(2, 3).shape == (2, 3) and blaze.FloatTensor(2, 3).dtype == blaze.float32
    assert blaze.FloatTensor([1, 2]).tolist() == [1.0, 2.0]
    assert blaze.FloatTensor(blaze.Size([4])).shape == (4,)
    assert blaze.DoubleTensor().shape == (0,)
    assert blaze.ByteTensor([1, 255]).dtype == blaze.uint8
    with pytest.raises(TypeError, match="sizes"):
        blaze.FloatTensor(2, "a")
    with pytest.raises(TypeError, match="expected"):
        blaze.FloatTensor(blaze.zeros(2, dtype=blaze.int64))


def test_legacy_tensor_types_in_isinstance():
    x = blaze.ones(2)
    assert isinstance(x, blaze.FloatTensor) and not isinstance(x, blaze.LongTensor)
    assert not isinstance(x, blaze.cuda.FloatTensor) and not isinstance(np.ones(2), blaze.FloatTensor)
    assert isinstance(x.long(), blaze.LongTensor)


def test_xpu_namespace_reports_no_device():
    # mnist_forward_forward: use_xpu = not args.no_xpu and torch.xpu.is_available()
    assert blaze.xpu.is_available() is False and blaze.xpu.device_count() == 0


class Net(blaze.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = blaze.nn.Linear(2, 1)


@pytest.fixture
def whole_model(tmp_path):
    path = tmp_path / "m.pt"
    blaze.save(Net(), path)
    return path


def test_force_no_weights_only_load_makes_unspecified_weights_only_false(whole_model, monkeypatch):
    # word_language_model saves the whole model and reloads it with torch.load(f): refused by
    # default on PyTorch 2.13 and on blaze, loaded under PyTorch's switch on both
    with pytest.raises(Exception, match="Net"):
        blaze.load(whole_model)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.warns(UserWarning, match="TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"):
        model = blaze.load(whole_model)
    assert isinstance(model, Net) and model.fc.weight.shape == (1, 2)
    with pytest.raises(Exception, match="Net"):
        blaze.load(whole_model, weights_only=True)  # an explicit value still wins


def test_force_weights_only_load_overrides_false(whole_model, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "true")
    with pytest.raises(Exception, match="Net"):
        blaze.load(whole_model, weights_only=False)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(RuntimeError, match="Only one of"):
        blaze.load(whole_model)


@pytest.mark.parametrize("size_average, reduce, reduction", [
    (False, None, "sum"), (True, None, "mean"), (None, False, "none"), (False, True, "sum"), (True, True, "mean"),
])
def test_functional_losses_honour_legacy_size_average_and_reduce(size_average, reduce, reduction):
    # mnist's classic test loop: F.nll_loss(output, target, size_average=False) is a sum
    F = blaze.nn.functional
    logp = F.log_softmax(blaze.randn(5, 3), 1)
    t = blaze.tensor([0, 1, 2, 0, 1])
    y = blaze.randn(5, 3)
    for fn, args in [(F.nll_loss, (logp, t)), (F.cross_entropy, (logp, t)), (F.mse_loss, (logp, y))]:
        with pytest.warns(UserWarning, match=f"reduction='{reduction}'"):
            got = fn(*args, size_average=size_average, reduce=reduce)
        np.testing.assert_allclose(got.numpy(), fn(*args, reduction=reduction).numpy(), rtol=1e-6)
        assert blaze.nn.NLLLoss(size_average=size_average, reduce=reduce).reduction == reduction
