"""Windows and STFT (blaze/ops/spectral.py) against NumPy; global settings (blaze/_settings.py)."""
import numpy as np
import pytest

import blaze
from blaze import _flags
from tests.core.oracle import arr, check

SIG = arr(2, 40)


def _np_window(kind, n, periodic):
    m = n + 1 if periodic else n
    w = {"hann": np.hanning, "hamming": np.hamming, "blackman": np.blackman, "bartlett": np.bartlett,
         "kaiser": lambda k: np.kaiser(k, 12.0)}[kind](m)
    return w[:n]


@pytest.mark.parametrize("kind", ["hann", "hamming", "blackman", "bartlett", "kaiser"])
@pytest.mark.parametrize("periodic", [True, False])
def test_windows_match_numpy(kind, periodic):
    w = getattr(blaze, f"{kind}_window")(9, periodic, dtype=blaze.float64)
    np.testing.assert_allclose(w.numpy(), _np_window(kind, 9, periodic), atol=1e-12)
    assert getattr(blaze, f"{kind}_window")(1).tolist() == [1.0]


def _np_stft(x, n_fft, hop, window):
    pad = np.pad(x, [(0, 0), (n_fft // 2, n_fft // 2)], mode="reflect")
    count = (pad.shape[-1] - n_fft) // hop + 1
    frames = np.stack([pad[:, i * hop:i * hop + n_fft] * window for i in range(count)], 1)
    spec = np.fft.rfft(frames, axis=-1)                     # (B, frames, freq)
    return np.stack([spec.real, spec.imag], -1).transpose(0, 2, 1, 3)


def test_stft_matches_numpy_fft_and_has_gradients():
    win = np.hanning(9)[:8]
    check(lambda x: blaze.stft(x, 8, 3, window=blaze.tensor(win), return_complex=False),
          lambda x: _np_stft(x, 8, 3, win), SIG[:, :20].copy(), atol=1e-10, rtol=1e-9)


def test_istft_inverts_stft():
    win = blaze.hann_window(8, dtype=blaze.float64)
    x = blaze.tensor(SIG)
    spec = blaze.stft(x, 8, 2, window=win, return_complex=False)
    y = blaze.istft(spec, 8, 2, window=win, length=40)
    np.testing.assert_allclose(y.numpy(), SIG, atol=1e-10)
    check(lambda s: blaze.istft(s, 6, 3, length=17), lambda s: _np_istft_ones(s, 6, 3, 17), arr(4, 7, 2),
          atol=1e-10, rtol=1e-9)


def _np_istft_ones(s, n_fft, hop, length):
    spec = s[..., 0] + 1j * s[..., 1]                       # (freq, frames)
    frames = np.fft.irfft(spec.T, n=n_fft, axis=-1)        # (frames, n_fft)
    total = n_fft + hop * (frames.shape[0] - 1)
    y, env = np.zeros(total), np.zeros(total)
    for t, f in enumerate(frames):
        y[t * hop:t * hop + n_fft] += f
        env[t * hop:t * hop + n_fft] += 1
    return (y / env)[n_fft // 2:n_fft // 2 + length]


def test_stft_errors():
    with pytest.raises(RuntimeError, match="no complex dtypes"):
        blaze.stft(blaze.ones(16), 4, return_complex=True)
    with pytest.raises(RuntimeError, match="win_length"):
        blaze.stft(blaze.ones(16), 4, win_length=5, return_complex=False)
    with pytest.raises(RuntimeError, match="window overlap add min"):
        blaze.istft(blaze.ones(3, 4, 2), 4, hop_length=4, window=blaze.tensor([0.0, 1, 1, 0]))


@pytest.fixture
def restore_settings():
    saved = (_flags.allow_tf32, _flags.deterministic, dict(blaze._repr.OPTIONS), blaze.get_default_device(),
             blaze.get_default_dtype())
    yield
    _flags.allow_tf32, _flags.deterministic = saved[0], saved[1]
    blaze._repr.OPTIONS.update(saved[2])
    blaze.set_default_device(saved[3])
    blaze.set_default_dtype(saved[4])


def test_matmul_precision_is_the_tf32_flag(restore_settings):
    blaze.set_float32_matmul_precision("high")
    assert _flags.allow_tf32 and blaze.backends.cuda.matmul.allow_tf32
    assert blaze.get_float32_matmul_precision() == "high"
    blaze.backends.cuda.matmul.allow_tf32 = False
    assert blaze.get_float32_matmul_precision() == "highest"
    with pytest.raises(RuntimeError, match="Invalid float32 matmul precision"):
        blaze.set_float32_matmul_precision("low")


def test_deterministic_switch_is_cudnn_deterministic(restore_settings):
    blaze.use_deterministic_algorithms(True, warn_only=True)
    assert blaze.backends.cudnn.deterministic and blaze.is_deterministic_algorithms_warn_only_enabled()
    assert blaze.get_deterministic_debug_mode() == 1
    blaze.set_deterministic_debug_mode("error")
    assert blaze.are_deterministic_algorithms_enabled() and blaze.get_deterministic_debug_mode() == 2
    blaze.backends.cudnn.deterministic = False
    assert not blaze.are_deterministic_algorithms_enabled() and blaze.get_deterministic_debug_mode() == 0


def test_printoptions_reach_repr(restore_settings):
    blaze.set_printoptions(precision=2)
    assert repr(blaze.tensor([1.23456])) == "tensor([1.23])"
    blaze.set_printoptions(sci_mode=True)
    assert "e+00" in repr(blaze.tensor([1.5]))
    blaze.set_printoptions(profile="default")
    assert repr(blaze.tensor([1.23456])) == "tensor([1.2346])"
    blaze.set_printoptions(threshold=4, edgeitems=1)
    assert "..." in repr(blaze.arange(10))


def test_default_device_and_tensor_type(restore_settings):
    blaze.set_default_tensor_type("blaze.DoubleTensor")
    assert blaze.zeros(2).dtype is blaze.float64 and blaze.get_default_device().type == "cpu"
    with pytest.raises(TypeError, match="only floating-point types"):
        blaze.set_default_tensor_type("blaze.LongTensor")


def test_small_queries():
    assert blaze.is_nonzero(blaze.tensor([2])) and not blaze.is_nonzero(blaze.tensor(0.0))
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        blaze.is_nonzero(blaze.ones(2))
    assert blaze.typename(blaze.ones(2, dtype=blaze.int64)) == "blaze.LongTensor"
    assert blaze.typename(1.5) == "float"
    assert blaze.set_flush_denormal(True) is False
    assert not blaze.is_inference_mode_enabled()
    with blaze.inference_mode():
        assert blaze.is_inference_mode_enabled() and not blaze.is_grad_enabled()
    assert not blaze.is_inference(blaze.ones(1))
    with pytest.raises(RuntimeError, match="blaze.cpu"):
        blaze.get_device_module("cpu")


def test_num_threads_limit_the_blas_pool():
    from threadpoolctl import threadpool_info  # the test extra installs it (the "threads" extra)
    before = blaze.get_num_threads()
    try:
        blaze.set_num_threads(1)
        assert blaze.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    finally:
        blaze.set_num_threads(before)
    with pytest.raises(RuntimeError, match="positive integer"):
        blaze.set_num_threads(0)
