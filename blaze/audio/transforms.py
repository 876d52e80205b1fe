"""Audio transforms as modules, with torchaudio.transforms' names, arguments, defaults and buffers."""
from __future__ import annotations

import math

import blaze
from blaze.nn import Module

from . import functional as AF

__all__ = ["Spectrogram", "MelScale", "MelSpectrogram", "MFCC", "AmplitudeToDB", "Resample"]


class Spectrogram(Module):
    """|STFT|^power of a waveform (..., time) -> (..., n_fft // 2 + 1, frames).

    Args:
        n_fft: FFT size (400 = 25 ms at 16 kHz). win_length: window size (default n_fft).
        hop_length: default win_length // 2. pad: zeros added to both ends first.
        window_fn: ``(length, **wkwargs) -> Tensor``; default a periodic Hann window.
        power: 2.0 power spectrum, 1.0 magnitude. normalized: True/"window" or "frame_length".
        center: pad n_fft // 2 on both sides (``pad_mode``) so frame t is centred on t * hop.

    Example::

        spec = Spectrogram(n_fft=512)(wave)     # (1, 16000) -> (1, 257, 63)
    """

    def __init__(self, n_fft: int = 400, win_length: int | None = None, hop_length: int | None = None, pad: int = 0,
                 window_fn=AF.hann_window, power: float | None = 2.0, normalized=False, wkwargs=None,
                 center: bool = True, pad_mode: str = "reflect", onesided: bool = True):
        super().__init__()
        self.n_fft = n_fft
        self.win_length = win_length if win_length is not None else n_fft
        self.hop_length = hop_length if hop_length is not None else self.win_length // 2
        self.pad, self.power, self.normalized = pad, power, normalized
        self.center, self.pad_mode, self.onesided = center, pad_mode, onesided
        self.register_buffer("window", window_fn(self.win_length, **(wkwargs or {})))

    def forward(self, waveform):
        return AF.spectrogram(waveform, self.pad, self.window, self.n_fft, self.hop_length, self.win_length,
                              self.power, self.normalized, self.center, self.pad_mode, self.onesided)

    def extra_repr(self):
        return f"n_fft={self.n_fft}, win_length={self.win_length}, hop_length={self.hop_length}, power={self.power}"


class MelScale(Module):
    """A spectrogram (..., n_stft, time) -> (..., n_mels, time) through triangular mel filters (buffer ``fb``)."""

    def __init__(self, n_mels: int = 128, sample_rate: int = 16000, f_min: float = 0.0, f_max: float | None = None,
                 n_stft: int = 201, norm: str | None = None, mel_scale: str = "htk"):
        super().__init__()
        self.n_mels, self.sample_rate = n_mels, sample_rate
        self.f_max = f_max if f_max is not None else float(sample_rate // 2)
        self.f_min, self.norm, self.mel_scale = f_min, norm, mel_scale
        if f_min > self.f_max:
            raise ValueError(f"Require f_min: {f_min} <= f_max: {self.f_max}")
        self.register_buffer("fb", AF.melscale_fbanks(n_stft, f_min, self.f_max, n_mels, sample_rate, norm,
                                                      mel_scale))

    def forward(self, specgram):
        if specgram.shape[-2] != self.fb.shape[0]:
            raise RuntimeError(f"MelScale expects {self.fb.shape[0]} frequency bins (n_stft), got "
                               f"{specgram.shape[-2]}")
        fb = self.fb.to(dtype=specgram.dtype)
        return (specgram.transpose(-1, -2) @ fb).transpose(-1, -2)    # (..., time, n_mels) -> (..., n_mels, time)


class MelSpectrogram(Module):
    """Spectrogram then MelScale (torchaudio's defaults: 16 kHz, n_fft 400, hop 200, 128 HTK mels, power 2).

    Example::

        mel = MelSpectrogram(sample_rate=16000, n_mels=64)(wave)   # (1, 16000) -> (1, 64, 81)
    """

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, win_length: int | None = None,
                 hop_length: int | None = None, f_min: float = 0.0, f_max: float | None = None, pad: int = 0,
                 n_mels: int = 128, window_fn=AF.hann_window, power: float = 2.0, normalized=False, wkwargs=None,
                 center: bool = True, pad_mode: str = "reflect", onesided: bool | None = None,
                 norm: str | None = None, mel_scale: str = "htk"):
        super().__init__()
        self.sample_rate, self.n_fft, self.n_mels = sample_rate, n_fft, n_mels
        self.spectrogram = Spectrogram(n_fft, win_length, hop_length, pad, window_fn, power, normalized, wkwargs,
                                       center, pad_mode, True if onesided is None else onesided)
        self.mel_scale = MelScale(n_mels, sample_rate, f_min, f_max, n_fft // 2 + 1, norm, mel_scale)

    def forward(self, waveform):
        return self.mel_scale(self.spectrogram(waveform))


class AmplitudeToDB(Module):
    """Power (``stype="power"``, 10 log10) or magnitude (``"magnitude"``, 20 log10) to decibels,
    clamped below at 1e-10 and, with ``top_db``, at (max - top_db) per spectrogram."""

    def __init__(self, stype: str = "power", top_db: float | None = None):
        super().__init__()
        if stype not in ("power", "magnitude"):
            raise ValueError(f"stype must be 'power' or 'magnitude', got {stype!r}")
        if top_db is not None and top_db < 0:
            raise ValueError("top_db must be positive value")
        self.stype, self.top_db = stype, top_db
        self.multiplier = 10.0 if stype == "power" else 20.0
        self.amin, self.ref_value = 1e-10, 1.0
        self.db_multiplier = math.log10(max(self.amin, self.ref_value))

    def forward(self, x):
        return AF.amplitude_to_DB(x, self.multiplier, self.amin, self.db_multiplier, self.top_db)


class MFCC(Module):
    """Mel-frequency cepstral coefficients: MelSpectrogram -> dB (top_db 80) -> DCT-II (buffer ``dct_mat``).

    Args:
        n_mfcc: coefficients kept (<= n_mels). dct_type: only 2. norm: "ortho" or None.
        log_mels: log(mel + 1e-6) instead of decibels. melkwargs: MelSpectrogram's arguments.
    """

    def __init__(self, sample_rate: int = 16000, n_mfcc: int = 40, dct_type: int = 2, norm: str | None = "ortho",
                 log_mels: bool = False, melkwargs: dict | None = None):
        super().__init__()
        if dct_type != 2:
            raise ValueError(f"DCT type not supported: {dct_type}")
        self.sample_rate, self.n_mfcc, self.dct_type, self.norm, self.log_mels = (sample_rate, n_mfcc, dct_type,
                                                                                  norm, log_mels)
        self.top_db = 80.0
        self.amplitude_to_DB = AmplitudeToDB("power", self.top_db)
        self.MelSpectrogram = MelSpectrogram(sample_rate=sample_rate, **(melkwargs or {}))
        if n_mfcc > self.MelSpectrogram.n_mels:
            raise ValueError("Cannot select more MFCC coefficients than # mel bins")
        self.register_buffer("dct_mat", AF.create_dct(n_mfcc, self.MelSpectrogram.n_mels, norm))

    def forward(self, waveform):
        mel = self.MelSpectrogram(waveform)
        mel = blaze.log(mel + 1e-6) if self.log_mels else self.amplitude_to_DB(mel)
        dct = self.dct_mat.to(dtype=mel.dtype)
        return (mel.transpose(-1, -2) @ dct).transpose(-1, -2)        # (..., n_mfcc, time)


class Resample(Module):
    """Band-limited resampling from ``orig_freq`` to ``new_freq`` Hz (windowed sinc, torchaudio's kernel)."""

    def __init__(self, orig_freq: int = 16000, new_freq: int = 16000, resampling_method: str = "sinc_interp_hann",
                 lowpass_filter_width: int = 6, rolloff: float = 0.99, beta: float | None = None, *, dtype=None):
        super().__init__()
        self.orig_freq, self.new_freq = orig_freq, new_freq
        self.resampling_method, self.lowpass_filter_width, self.rolloff, self.beta = (
            resampling_method, lowpass_filter_width, rolloff, beta)
        self._orig, self._new, kernel, self.width = AF._resample_setup(orig_freq, new_freq, lowpass_filter_width,
                                                                       rolloff, resampling_method, beta, dtype)
        self.register_buffer("kernel", kernel)

    def forward(self, waveform):
        return AF._apply_resample(waveform, self._orig, self._new, self.kernel, self.width)

    def extra_repr(self):
        return f"orig_freq={self.orig_freq}, new_freq={self.new_freq}, method={self.resampling_method!r}"
