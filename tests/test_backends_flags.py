"""blaze.backends is PyTorch's flag namespace; the flags reach the kernels that read them."""
import numpy as np
import pytest

import blaze
from blaze import _flags


@pytest.fixture
def restore_flags():
    saved = dict(vars(_flags))
    yield
    for k in ("allow_tf32", "deterministic", "benchmark", "cudnn_enabled"):
        setattr(_flags, k, saved[k])


def test_pytorch_spelling_works(restore_flags):
    import blaze.backends.cudnn as cudnn
    assert (cudnn.benchmark, cudnn.deterministic, cudnn.enabled) == (False, False, True)  # PyTorch's defaults
    cudnn.benchmark = True
    cudnn.deterministic = True
    cudnn.enabled = False
    assert (_flags.benchmark, _flags.deterministic, _flags.cudnn_enabled) == (True, True, False)
    assert blaze.backends.cudnn.deterministic is True
    assert cudnn.is_available() is False
    assert blaze.backends.mps.is_available() is False


def test_matmul_allow_tf32_is_the_kernel_switch(restore_flags):
    m = blaze.backends.cuda.matmul
    assert m.allow_tf32 is False
    m.allow_tf32 = True
    assert _flags.allow_tf32 is True
    with pytest.raises(AttributeError, match="Unknown attribute allow_fp16"):
        m.allow_fp16 = True


def test_devices_are_not_the_flag_namespace():
    from blaze.devices import get_backend
    assert get_backend(blaze.device("cpu")).name == "cpu"
    assert not hasattr(blaze.backends, "get_backend")


@pytest.mark.parametrize("deterministic", [False, True])
def test_cudnn_deterministic_picks_the_fixed_order_embedding_backward(restore_flags, deterministic):
    pytest.importorskip("triton")
    from blaze.devices.cuda import backend as triton_backend
    try:
        blaze.device("cuda") and blaze.zeros(1, device="cuda")
    except RuntimeError as e:
        pytest.skip(f"no cuda device: {e}")
    blaze.backends.cudnn.deterministic = deterministic
    triton_backend.FALLBACKS.clear()
    w = blaze.randn(5, 3, device="cuda", requires_grad=True)
    ids = blaze.tensor([1, 1, 4, 1], device="cuda")
    blaze.nn.functional.embedding(ids, w).sum().backward()
    expect = np.zeros((5, 3), np.float32)
    expect[1], expect[4] = 3, 1
    np.testing.assert_array_equal(w.grad.cpu().numpy(), expect)
    assert triton_backend.FALLBACKS["embedding_backward"] == int(deterministic)
