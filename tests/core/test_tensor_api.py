"""Tensor API: dtypes and promotion, conversions, repr, Python protocols, and clear errors at the boundary."""
import numpy as np
import pytest

import blaze


@pytest.mark.parametrize("a,b,expected", [
    (blaze.int32, 2.5, blaze.float32), (blaze.float16, 1.0, blaze.float16), (blaze.int32, 5, blaze.int32),
    (blaze.uint8, 1, blaze.uint8), (blaze.bool, 1, blaze.int64), (blaze.bool, True, blaze.bool),
    (blaze.int64, blaze.float16, blaze.float16), (blaze.float16, blaze.bfloat16, blaze.float32),
    (blaze.uint8, blaze.int8, blaze.int16), (blaze.int32, blaze.float64, blaze.float64),
])
def test_type_promotion(a, b, expected):
    x = blaze.ones(3, dtype=a)
    y = b if not isinstance(b, blaze.dtype) else blaze.ones(3, dtype=b)
    assert (x + y).dtype is expected


def test_zero_dim_tensor_promotes_like_a_scalar_within_category():
    x = blaze.ones(3, dtype=blaze.float16)
    assert (x * blaze.tensor(2.0, dtype=blaze.float64)).dtype is blaze.float16
    assert (blaze.ones(3, dtype=blaze.int32) * blaze.tensor(2.0, dtype=blaze.float64)).dtype is blaze.float64


def test_integer_true_division_gives_float_and_int_dtypes_roundtrip():
    assert (blaze.tensor([3, 4]) / 2).tolist() == [1.5, 2.0]
    assert (blaze.tensor([7, -7]) // 2).tolist() == [3, -4]
    for d in (blaze.float32, blaze.float64, blaze.float16, blaze.bfloat16, blaze.int64, blaze.int32,
              blaze.uint8, blaze.bool):
        t = blaze.tensor([1, 0, 1], dtype=d)
        assert t.dtype is d and t.to(blaze.float32).tolist() == [1.0, 0.0, 1.0]


def test_tensor_inference_and_python_protocols():
    assert blaze.tensor([1, 2]).dtype is blaze.int64
    assert blaze.tensor([1.0, 2]).dtype is blaze.float32
    assert blaze.tensor([True]).dtype is blaze.bool
    t = blaze.tensor([[1, 2], [3, 4]])
    assert len(t) == 2 and [r.tolist() for r in t] == [[1, 2], [3, 4]]
    assert t.tolist() == [[1, 2], [3, 4]] and t[1, 0].item() == 3 and float(t[0, 1]) == 2.0
    assert bool(blaze.tensor([1])) and not bool(blaze.tensor(0.0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        t.item()
    assert np.asarray(t).tolist() == [[1, 2], [3, 4]]
    assert t.shape == (2, 2) and t.size(1) == 2 and t.ndim == 2 and t.numel() == 4
    assert t.shape.numel() == 4 and repr(t.shape) == "blaze.Size([2, 2])"
    assert t.device == blaze.device("cpu") and str(t.device) == "cpu"
    assert [0, 1, 2][blaze.tensor(1)] == 1


def test_repr_looks_like_pytorch():
    assert repr(blaze.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(blaze.tensor([0.5, 0.25])) == "tensor([0.5000, 0.2500])"
    assert repr(blaze.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(blaze.tensor([1.0], dtype=blaze.float64)) == "tensor([1.], dtype=blaze.float64)"
    assert repr(blaze.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(blaze.tensor([1.0], requires_grad=True) * 2) == "tensor([2.], grad_fn=<MulBackward0>)"
    assert repr(blaze.tensor(True)) == "tensor(True)"


def test_to_and_casts():
    x = blaze.tensor([1.7, -1.7])
    assert x.long().tolist() == [1, -1] and x.int().dtype is blaze.int32 and x.half().dtype is blaze.float16
    assert x.to(blaze.float64).dtype is blaze.float64 and x.double().to("cpu", blaze.int64).tolist() == [1, -1]
    assert x.to(blaze.ones(1, dtype=blaze.float16)).dtype is blaze.float16
    y = blaze.tensor([1.0], requires_grad=True)
    (y.double() * 3).sum().backward()
    assert y.grad.dtype is blaze.float32 and y.grad.tolist() == [3.0]


def test_cuda_device_gives_clear_error_without_gpu_or_emulation():
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    if os.path.exists("/dev/nvidia0"):
        pytest.skip("a GPU is present: the cuda device works here")
    r = subprocess.run([sys.executable, "-c", "import blaze; blaze.zeros(2, device='cuda')"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError") and "cuda" in last.lower(), last


# ---------------------------------------------------------------------------- errors at the boundary
def test_broadcast_error_names_sizes():
    with pytest.raises(RuntimeError, match=r"size of tensor a \(3\) must match the size of tensor b \(4\) at "
                                           r"non-singleton dimension 1"):
        blaze.ones(2, 3) + blaze.ones(2, 4)


def test_matmul_errors_name_shapes_and_dtypes():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"):
        blaze.ones(2, 3) @ blaze.ones(4, 5)
    with pytest.raises(RuntimeError, match="same dtype"):
        blaze.ones(2, 3) @ blaze.ones(3, 2, dtype=blaze.float64)
    with pytest.raises(RuntimeError, match="batch"):
        blaze.ones(2, 2, 3) @ blaze.ones(3, 3, 2)


def test_bad_dim_and_index_errors():
    x = blaze.ones(2, 3)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"):
        x.sum(2)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 1 with size 3"):
        x[0, 5]
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 0 with size 2"):
        x[blaze.tensor([0, 4])]
    with pytest.raises(IndexError, match="out of bounds for dimension 1 with size 3"):
        x.gather(1, blaze.tensor([[0, 3]]))
    with pytest.raises(RuntimeError, match="invalid for input of size 6"):
        x.reshape(4, 2)
    with pytest.raises(RuntimeError, match="must match the existing size"):
        x.expand(2, 4)
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        blaze.cat([x, blaze.ones(1, 4)])


def test_mixed_devices_error_is_clear():
    from blaze.ops._util import same_device

    class FakeDevice:
        type = "cuda"
        def __str__(self):
            return "cuda:0"
    a = blaze.ones(2)
    b = blaze.ones(2)
    b._device = FakeDevice()
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        same_device(a, b)
    with pytest.raises(RuntimeError, match="same device"):
        a + b


def test_failed_ops_leave_tensors_and_graph_unchanged():
    x = blaze.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    fn, v = y.grad_fn, y._version_counter
    with pytest.raises(RuntimeError):
        y.add_(blaze.ones(3))
    with pytest.raises(RuntimeError, match="can't be cast"):
        blaze.tensor([1, 2]).add_(1.5)
    assert y.grad_fn is fn and y._version_counter == v and y.tolist() == [2.0, 4.0]
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_requires_grad_only_for_float_and_numpy_requires_detach():
    with pytest.raises(RuntimeError, match="floating point"):
        blaze.zeros(2, dtype=blaze.int64, requires_grad=True)
    with pytest.raises(TypeError, match="can't convert np.ndarray of type"):
        blaze.from_numpy(np.zeros(2, dtype=np.complex64))


def test_zero_dim_tensors_reduce_over_dim_zero():
    x = blaze.tensor(2.5, requires_grad=True)
    assert x.sum(0).shape == () and x.sum(-1, keepdim=True).shape == () and x.logsumexp(0).item() == 2.5
    assert x.cumsum(0).shape == () and x.cumsum(0).item() == 2.5
    v, i = x.topk(1)
    assert v.item() == 2.5 and i.item() == 0 and v.shape == ()
    x.sum(0).backward()
    assert x.grad.item() == 1.0
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.sum(1)
