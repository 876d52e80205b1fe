"""Window functions and the short-time Fourier transform.

blaze has no complex dtypes, so ``stft`` returns PyTorch's real view of the spectrum (its old
``return_complex=False`` layout, ``(..., freq, frames, 2)`` = (real, imag)) and ``istft`` takes
that layout. The DFT is a matmul with a cos/sin matrix built once in float64 on the host
(n_fft x (n_fft/2 + 1) values): O(n_fft^2) per frame instead of an FFT's O(n_fft log n_fft),
but composed of existing ops, so it is differentiable and runs on the cuda device with no host
round trip.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import dtypes as _dt
from ._host import host_arrays
from . import creation as C
from . import movement as M


# ------------------------------------------------------------------------- windows
def _window(fn, name, window_length, periodic, dtype, device, requires_grad):
    if window_length < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got window_length={window_length}")
    d = _dt.to_dtype(dtype) if dtype is not None else _dt.get_default_dtype()
    if not d.is_floating_point:
        raise RuntimeError(f"{name} expects floating point dtypes, got: {d}")
    if window_length <= 1:
        w = np.ones(window_length)
    else:
        n = window_length + 1 if periodic else window_length
        w = fn(np.arange(n, dtype=np.float64), n)[:window_length]
    return C.tensor(w, dtype=d, device=device, requires_grad=requires_grad)


def hann_window(window_length, periodic=True, *, dtype=None, layout=None, device=None, requires_grad=False):
    return _window(lambda k, n: 0.5 - 0.5 * np.cos(2 * np.pi * k / (n - 1)), "hann_window", window_length,
                   periodic, dtype, device, requires_grad)


def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None, layout=None, device=None,
                   requires_grad=False):
    return _window(lambda k, n: alpha - beta * np.cos(2 * np.pi * k / (n - 1)), "hamming_window", window_length,
                   periodic, dtype, device, requires_grad)


def blackman_window(window_length, periodic=True, *, dtype=None, layout=None, device=None, requires_grad=False):
    return _window(lambda k, n: 0.42 - 0.5 * np.cos(2 * np.pi * k / (n - 1)) + 0.08 * np.cos(4 * np.pi * k / (n - 1)),
                   "blackman_window", window_length, periodic, dtype, device, requires_grad)


def bartlett_window(window_length, periodic=True, *, dtype=None, layout=None, device=None, requires_grad=False):
    return _window(lambda k, n: 1 - np.abs(2 * k / (n - 1) - 1), "bartlett_window", window_length, periodic, dtype,
                   device, requires_grad)


def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, layout=None, device=None,
                  requires_grad=False):
    return _window(lambda k, n: np.i0(beta * np.sqrt(np.clip(1 - (2 * k / (n - 1) - 1) ** 2, 0, None))) / np.i0(beta),
                   "kaiser_window", window_length, periodic, dtype, device, requires_grad)


# ------------------------------------------------------------------------- stft / istft
@functools.lru_cache(maxsize=8)
def _dft_np(n_fft, n_freq):
    ang = 2 * np.pi * np.outer(np.arange(n_fft), np.arange(n_freq)) / n_fft
    return np.cos(ang), np.sin(ang)


def _dft(n_fft, n_freq, like):
    """(n_fft, n_freq) cos and sin matrices of the forward DFT, on ``like``'s device and dtype."""
    cos, sin = _dft_np(n_fft, n_freq)
    return (C.tensor(cos, dtype=like.dtype, device=like.device),
            C.tensor(sin, dtype=like.dtype, device=like.device))


def _rows_matmul(x, m):
    """(..., k) @ (k, n) as one 2-D GEMM: NumPy's stacked matmul runs ~15x slower on (4, 63, 1024) @
    (1024, 513) float32 (43 ms vs 2.8 ms)."""
    return (x.reshape(-1, x.shape[-1]) @ m).reshape(*x.shape[:-1], m.shape[-1])


def _full_window(window, win_length, n_fft, like):
    if window is None:
        window = C.ones(win_length, dtype=like.dtype, device=like.device)
    if window.ndim != 1 or window.shape[0] != win_length:
        raise RuntimeError(f"stft: expected a 1D window tensor of size equal to win_length={win_length}, but got "
                           f"window with size {list(window.shape)}")
    left = (n_fft - win_length) // 2
    return M.pad(window.to(like.dtype), (left, n_fft - win_length - left))


def _check_lengths(fn, n_fft, hop_length, win_length):
    hop = n_fft // 4 if hop_length is None else hop_length
    win = n_fft if win_length is None else win_length
    if n_fft <= 0:
        raise RuntimeError(f"{fn}: expected 0 < n_fft, but got n_fft={n_fft}")
    if hop <= 0:
        raise RuntimeError(f"{fn}: expected hop_length > 0, but got hop_length={hop}")
    if not 0 < win <= n_fft:
        raise RuntimeError(f"{fn}: expected 0 < win_length <= n_fft, but got win_length={win}")
    return hop, win


def stft(input, n_fft, hop_length=None, win_length=None, window=None, center=True, pad_mode="reflect",
         normalized=False, onesided=None, return_complex=None):
    """Short-time Fourier transform of (L,) or (B, L) -> (..., n_fft // 2 + 1, frames, 2) (real, imag)."""
    if return_complex:
        raise RuntimeError("stft: blaze has no complex dtypes; pass return_complex=False for the (..., 2) real "
                           "layout (see README, Deliberate differences)")
    if input.ndim not in (1, 2):
        raise RuntimeError(f"stft: expected a 1D or 2D tensor, but got {input.ndim}D")
    hop, win = _check_lengths("stft", n_fft, hop_length, win_length)
    x = input.unsqueeze(0) if input.ndim == 1 else input                     # (B, L)
    if not x.dtype.is_floating_point:
        x = x.to(_dt.get_default_dtype())
    if center:
        x = M.pad(x.unsqueeze(1), (n_fft // 2, n_fft // 2), mode=pad_mode).squeeze(1)
    if x.shape[-1] < n_fft:
        raise RuntimeError(f"stft: expected 0 < n_fft < {x.shape[-1]}, but got n_fft={n_fft}")
    frames = x.unfold(-1, n_fft, hop) * _full_window(window, win, n_fft, x)  # (B, frames, n_fft)
    n_freq = n_fft // 2 + 1 if onesided is not False else n_fft
    cos, sin = _dft(n_fft, n_freq, x)
    out = M.stack([_rows_matmul(frames, cos), -_rows_matmul(frames, sin)], -1)  # (B, frames, freq, 2)
    if normalized:
        out = out * (n_fft ** -0.5)
    out = out.transpose(1, 2)                                                # (B, freq, frames, 2)
    return out.squeeze(0) if input.ndim == 1 else out


def istft(input, n_fft, hop_length=None, win_length=None, window=None, center=True, normalized=False,
          onesided=None, length=None, return_complex=False):
    """Inverse of ``stft``: (..., freq, frames, 2) -> (..., L), by windowed overlap-add."""
    if return_complex:
        raise RuntimeError("istft: blaze has no complex dtypes; return_complex must be False")
    if input.ndim not in (3, 4) or input.shape[-1] != 2:
        raise RuntimeError(f"istft: expected the (..., freq, frames, 2) real layout of a spectrum, but got shape "
                           f"{list(input.shape)}")
    hop, win = _check_lengths("istft", n_fft, hop_length, win_length)
    spec = input.unsqueeze(0) if input.ndim == 3 else input                  # (B, freq, frames, 2)
    n_freq, n_frames = spec.shape[1], spec.shape[2]
    one = onesided if onesided is not None else n_freq != n_fft
    if one and n_freq != n_fft // 2 + 1:
        raise RuntimeError(f"istft: expected the frequency dimension (3rd to the last) of the input tensor to match "
                           f"n_fft / 2 + 1 when onesided=True, but got {n_freq}")
    cos, sin = _dft(n_fft, n_freq, spec)
    # onesided: the bins 1 .. ceil(n/2)-1 stand for two conjugate bins each
    weight = np.ones(n_freq) if not one else np.where((np.arange(n_freq) == 0) |
                                                      (2 * np.arange(n_freq) == n_fft), 1.0, 2.0)
    w = C.tensor(weight / n_fft, dtype=spec.dtype, device=spec.device)
    re, im = spec[..., 0].transpose(1, 2), spec[..., 1].transpose(1, 2)     # (B, frames, freq)
    frames = _rows_matmul(re * w, cos.mT) - _rows_matmul(im * w, sin.mT)    # (B, frames, n_fft)
    if normalized:
        frames = frames * (n_fft ** 0.5)
    wfull = _full_window(window, win, n_fft, spec)
    frames = frames * wfull
    total = n_fft + hop * (n_frames - 1)
    pos = (np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None, :]).reshape(-1)
    idx = C.tensor(pos.astype(np.int64), device=spec.device)
    y = C.zeros(spec.shape[0], total, dtype=spec.dtype, device=spec.device).index_add(
        1, idx, frames.reshape(spec.shape[0], -1))
    env = np.zeros(total)
    # the window envelope sets which samples can be recovered (NOLA), a host-side check: counted on cuda
    np.add.at(env, pos, np.tile(host_arrays("istft_envelope", wfull.detach())[0].astype(np.float64) ** 2, n_frames))
    start = n_fft // 2 if center else 0
    end = total - n_fft // 2 if center else total
    if length is not None:
        end = start + length
    env = env[start:min(end, total)]
    if env.size and np.abs(env).min() < 1e-11:
        raise RuntimeError("istft: window overlap add min: 0 (the window envelope has a zero; pick a window and "
                           "hop that satisfy the NOLA condition)")
    y = y[:, start:min(end, total)] / C.tensor(env, dtype=spec.dtype, device=spec.device)
    if length is not None and y.shape[1] < length:
        y = M.pad(y, (0, length - y.shape[1]))
    return y.squeeze(0) if input.ndim == 3 else y


__all__ = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window", "stft", "istft"]
