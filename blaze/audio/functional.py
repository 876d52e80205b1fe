"""Audio feature functions with torchaudio.functional's names, arguments and defaults.

Everything is composed from differentiable blaze ops: the STFT is one ``index_select`` that
cuts the frames and one matmul with a windowed DFT matrix (n_fft x 2*(n_fft//2+1), built in
float64 NumPy and cast), so gradients reach the waveform wherever torchaudio's do. Filter
banks, DCT matrices and resampling kernels are constants computed in NumPy from the formulas
torchaudio documents.
"""
from __future__ import annotations

import math

import numpy as np

import blaze
from blaze.nn import functional as F

__all__ = ["spectrogram", "melscale_fbanks", "create_dct", "amplitude_to_DB", "DB_to_amplitude", "resample",
           "hann_window"]


def hann_window(window_length: int, periodic: bool = True, dtype=None, device=None):
    """``torch.hann_window``: 0.5 - 0.5 cos(2 pi n / N), N = length (periodic) or length - 1."""
    if window_length < 0:
        raise RuntimeError(f"hann_window requires non-negative window_length, got window_length={window_length}")
    n = np.arange(window_length, dtype=np.float64)
    N = window_length if periodic else window_length - 1
    w = np.ones(window_length) if N <= 0 else 0.5 - 0.5 * np.cos(2 * np.pi * n / N)
    return blaze.tensor(w, dtype=dtype or blaze.get_default_dtype(), device=device)


def _as_numpy(t) -> np.ndarray:
    return (t.detach().cpu().numpy() if isinstance(t, blaze.Tensor) else np.asarray(t)).astype(np.float64)


def _frames(x, n_fft: int, hop_length: int):
    """(N, L) -> (N, n_frames, n_fft) windows starting every hop_length samples."""
    L = x.shape[-1]
    if L < n_fft:
        raise RuntimeError(f"the padded signal has {L} samples, fewer than n_fft={n_fft}")
    n_frames = 1 + (L - n_fft) // hop_length
    idx = (np.arange(n_frames)[:, None] * hop_length + np.arange(n_fft)[None, :]).reshape(-1)
    return x.index_select(-1, blaze.from_numpy(idx).to(x.device)).reshape(x.shape[0], n_frames, n_fft)


def _spec_norms(normalized):
    """torchaudio: True / "window" divide by the window's L2 norm; "frame_length" by sqrt(n_fft)."""
    if normalized is True or normalized == "window":
        return False, True
    if normalized is False:
        return False, False
    if normalized == "frame_length":
        return True, False
    raise ValueError(f"Invalid normalized parameter: {normalized}")


def spectrogram(waveform, pad: int, window, n_fft: int, hop_length: int, win_length: int, power: float | None,
                normalized, center: bool = True, pad_mode: str = "reflect", onesided: bool = True):
    """|STFT|^power of ``waveform`` (..., time) -> (..., n_fft // 2 + 1, n_frames) (torchaudio's function).

    ``window`` (win_length,) is zero-padded to n_fft about its centre, as ``torch.stft``.
    ``power=None`` (a complex spectrogram) is not supported: blaze has no complex dtype.
    """
    if power is None:
        raise NotImplementedError("power=None (a complex spectrogram) is not supported: blaze has no complex dtype")
    if power <= 0:
        raise ValueError(f"power must be positive, got {power}")
    if not onesided:
        raise NotImplementedError("onesided=False is not supported; real input gives a conjugate-symmetric half")
    if not 0 < win_length <= n_fft:
        raise RuntimeError(f"stft: expected 0 < win_length <= n_fft, but got win_length={win_length}")
    if hop_length <= 0:
        raise RuntimeError(f"stft: expected hop_length > 0, but got hop_length={hop_length}")
    frame_norm, window_norm = _spec_norms(normalized)
    shape = waveform.shape
    x = waveform.reshape(-1, shape[-1])                                # (N, L)
    if pad > 0:
        x = F.pad(x, (pad, pad))
    if center:
        half = n_fft // 2
        if pad_mode == "reflect" and half >= x.shape[-1]:
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({half}, {half}) at dimension 1 of input {list(x.shape)}")
        x = F.pad(x.unsqueeze(1), (half, half), mode=pad_mode).squeeze(1)
    w = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    w[left:left + win_length] = _as_numpy(window)
    n_freq = n_fft // 2 + 1
    angle = 2 * np.pi * np.outer(np.arange(n_fft), np.arange(n_freq)) / n_fft      # (n_fft, n_freq)
    basis = np.concatenate([np.cos(angle), -np.sin(angle)], axis=1) * w[:, None]   # window folded in
    scale = (n_fft ** -0.5 if frame_norm else 1.0) / (math.sqrt((w ** 2).sum()) if window_norm else 1.0)
    basis = blaze.tensor(basis * scale, dtype=waveform.dtype, device=waveform.device)
    spec = _frames(x, n_fft, hop_length) @ basis                       # (N, n_frames, 2 * n_freq)
    re, im = spec[..., :n_freq], spec[..., n_freq:]
    mag2 = re * re + im * im
    out = mag2 if power == 2.0 else mag2.pow(power / 2)
    return out.transpose(-1, -2).reshape(*shape[:-1], n_freq, out.shape[1])


# ---- mel scale --------------------------------------------------------------------------

_SLANEY_F_SP = 200.0 / 3         # Hz per mel below 1 kHz
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def _hz_to_mel(freq, mel_scale: str = "htk"):
    """Hz -> mel: HTK 2595 log10(1 + f / 700); Slaney linear below 1 kHz, logarithmic above."""
    f = np.asarray(freq, dtype=np.float64)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    if mel_scale != "slaney":
        raise ValueError('mel_scale should be one of "htk" or "slaney".')
    mels = f / _SLANEY_F_SP
    log_region = f >= 1000.0
    return np.where(log_region, 1000.0 / _SLANEY_F_SP + np.log(np.maximum(f, 1e-30) / 1000.0) / _SLANEY_LOGSTEP,
                    mels)


def _mel_to_hz(mels, mel_scale: str = "htk"):
    """The inverse of :func:`_hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if mel_scale != "slaney":
        raise ValueError('mel_scale should be one of "htk" or "slaney".')
    min_log_mel = 1000.0 / _SLANEY_F_SP
    return np.where(m >= min_log_mel, 1000.0 * np.exp(_SLANEY_LOGSTEP * (m - min_log_mel)), _SLANEY_F_SP * m)


def melscale_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int, norm: str | None = None,
                    mel_scale: str = "htk"):
    """Triangular mel filters (n_freqs, n_mels) over the STFT bins 0..sample_rate/2 (torchaudio's function).

    ``norm="slaney"`` divides each triangle by its width in Hz (constant energy per filter).
    """
    if norm not in (None, "slaney"):
        raise ValueError('norm must be one of None or "slaney"')
    if not 0 <= f_min < f_max:
        raise ValueError(f"expected 0 <= f_min < f_max, got f_min={f_min}, f_max={f_max}")
    all_freqs = np.linspace(0, sample_rate // 2, n_freqs)
    m_pts = np.linspace(_hz_to_mel(f_min, mel_scale), _hz_to_mel(f_max, mel_scale), n_mels + 2)
    f_pts = _mel_to_hz(m_pts, mel_scale)                                # (n_mels + 2,) edges and peaks
    f_diff = np.diff(f_pts)
    slopes = f_pts[None, :] - all_freqs[:, None]                      # (n_freqs, n_mels + 2)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = np.maximum(0.0, np.minimum(down, up))
    if norm == "slaney":
        fb *= 2.0 / (f_pts[2:n_mels + 2] - f_pts[:n_mels])
    return blaze.tensor(fb, dtype=blaze.float32)


def create_dct(n_mfcc: int, n_mels: int, norm: str | None):
    """DCT-II matrix (n_mels, n_mfcc) to multiply on the right (torchaudio's function; norm None | "ortho")."""
    if norm not in (None, "ortho"):
        raise ValueError('norm must be either "ortho" or None')
    n = np.arange(n_mels, dtype=np.float64)
    k = np.arange(n_mfcc, dtype=np.float64)[:, None]
    dct = np.cos(np.pi / n_mels * (n + 0.5) * k)                      # (n_mfcc, n_mels)
    if norm is None:
        dct *= 2.0
    else:
        dct[0] *= 1.0 / math.sqrt(2.0)
        dct *= math.sqrt(2.0 / n_mels)
    return blaze.tensor(dct.T.copy(), dtype=blaze.float32)


# ---- decibels ---------------------------------------------------------------------------

def amplitude_to_DB(x, multiplier: float, amin: float, db_multiplier: float, top_db: float | None = None):
    """multiplier * log10(max(x, amin)) - multiplier * db_multiplier, floored at (max - top_db).

    The max is taken per spectrogram over (channel, freq, time), as torchaudio does for inputs
    (..., C, F, T); a 2D input (F, T) is one spectrogram.
    """
    x_db = multiplier * blaze.log10(blaze.clamp(x, min=amin)) - multiplier * db_multiplier
    if top_db is None:
        return x_db
    if top_db < 0:
        raise ValueError("top_db must be positive value")
    shape = x_db.shape
    channels = shape[-3] if x_db.ndim > 2 else 1
    packed = x_db.reshape(-1, channels, shape[-2], shape[-1])          # (N, C, F, T)
    floor = (packed.amax(dim=(-3, -2, -1)) - top_db).reshape(-1, 1, 1, 1)
    return blaze.maximum(packed, floor).reshape(shape)


def DB_to_amplitude(x, ref: float, power: float):
    """The inverse of amplitude_to_DB: ref * (10 ** (x / 10)) ** power."""
    return ref * blaze.pow(blaze.pow(10.0, x * 0.1), power)


# ---- resampling -------------------------------------------------------------------------

_KAISER_BETA = 14.769656459379492  # torchaudio's default beta for sinc_interp_kaiser


def _sinc_resample_kernel(orig: int, new: int, lowpass_filter_width: int, rolloff: float, method: str,
                          beta: float | None):
    """(new, 2 * width + orig) windowed-sinc kernel; output phase j reads input offsets -width..width+orig."""
    if method not in ("sinc_interp_hann", "sinc_interp_kaiser"):
        raise ValueError(f"Invalid resampling method: {method}")
    if lowpass_filter_width <= 0:
        raise ValueError("Low pass filter width should be positive.")
    base_freq = min(orig, new) * rolloff              # cut-off below the lower Nyquist, as a fraction of 1 Hz
    width = math.ceil(lowpass_filter_width * orig / base_freq)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    t = (-np.arange(new, dtype=np.float64)[:, None] / new + idx) * base_freq
    t = np.clip(t, -lowpass_filter_width, lowpass_filter_width)
    if method == "sinc_interp_hann":
        window = np.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    else:
        b = _KAISER_BETA if beta is None else beta
        window = np.i0(b * np.sqrt(1 - (t / lowpass_filter_width) ** 2)) / np.i0(b)
    t *= math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        kernels = np.where(t == 0, 1.0, np.sin(t) / t)
    return kernels * window * (base_freq / orig), width


def _resample_setup(orig_freq, new_freq, lowpass_filter_width, rolloff, method, beta, dtype=None):
    """Validated, gcd-reduced rates and the kernel (None when the rates are equal)."""
    if orig_freq <= 0 or new_freq <= 0:
        raise ValueError("Original frequency and desired frequecy should be positive")
    if int(orig_freq) != orig_freq or int(new_freq) != new_freq:
        raise ValueError("Frequencies must be of integer type to ensure quality resampling computation.")
    g = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // g, int(new_freq) // g
    if orig == new:
        return orig, new, None, 0
    kernel, width = _sinc_resample_kernel(orig, new, lowpass_filter_width, rolloff, method, beta)
    return orig, new, blaze.tensor(kernel[:, None, :], dtype=dtype or blaze.float32), width     # (new, 1, K)


def _apply_resample(waveform, orig: int, new: int, kernel, width: int):
    if kernel is None:
        return waveform
    shape = waveform.shape
    x = F.pad(waveform.reshape(-1, 1, shape[-1]), (width, width + orig))   # (N, 1, L + 2 width + orig)
    y = F.conv1d(x, kernel.to(dtype=waveform.dtype, device=waveform.device), stride=orig)  # (N, new, frames)
    y = y.transpose(1, 2).reshape(x.shape[0], -1)                      # interleave the phases
    target = math.ceil(new * shape[-1] / orig)
    return y[:, :target].reshape(*shape[:-1], -1)


def resample(waveform, orig_freq: int, new_freq: int, lowpass_filter_width: int = 6, rolloff: float = 0.99,
             resampling_method: str = "sinc_interp_hann", beta: float | None = None):
    """Band-limited (windowed-sinc) resampling of ``waveform`` (..., time) (torchaudio's function).

    Output length ceil(new_freq * time / orig_freq). A strided conv1d with one filter per output
    phase after reducing the rates by their gcd (44100 -> 16000 is 441 -> 160: 160 filters).
    """
    return _apply_resample(waveform, *_resample_setup(orig_freq, new_freq, lowpass_filter_width, rolloff,
                                                      resampling_method, beta, waveform.dtype))
