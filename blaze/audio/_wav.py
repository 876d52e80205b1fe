"""WAV files through the standard library's ``wave`` module: ``blaze.audio.load`` / ``save`` (torchaudio's API).

``wave`` reads and writes integer PCM only (8-bit unsigned, 16/24/32-bit signed); a float or
compressed WAV is refused with a clear error instead of being misread.
"""
from __future__ import annotations

import os
import wave

import numpy as np

import blaze

__all__ = ["load", "save", "info", "AudioMetaData"]

# bytes per sample -> (full scale, what a sample reads as); 24-bit is widened to int32 below
_FULL_SCALE = {1: 128.0, 2: 32768.0, 3: 8388608.0, 4: 2147483648.0}


class AudioMetaData:
    """sample_rate, num_frames, num_channels, bits_per_sample, encoding (torchaudio's fields)."""

    def __init__(self, sample_rate, num_frames, num_channels, bits_per_sample, encoding):
        self.sample_rate, self.num_frames, self.num_channels = sample_rate, num_frames, num_channels
        self.bits_per_sample, self.encoding = bits_per_sample, encoding

    def __repr__(self):
        return (f"AudioMetaData(sample_rate={self.sample_rate}, num_frames={self.num_frames}, "
                f"num_channels={self.num_channels}, bits_per_sample={self.bits_per_sample}, "
                f"encoding={self.encoding})")


def _open(uri):
    try:
        return wave.open(os.fspath(uri) if isinstance(uri, os.PathLike) else uri, "rb")
    except wave.Error as e:
        raise RuntimeError(f"{uri}: not a PCM WAV file the standard library can read ({e}); blaze.audio reads "
                           "8/16/24/32-bit integer PCM only") from e


def info(uri) -> AudioMetaData:
    with _open(uri) as w:
        width = w.getsampwidth()
        return AudioMetaData(w.getframerate(), w.getnframes(), w.getnchannels(), 8 * width,
                             "PCM_U" if width == 1 else "PCM_S")


def _decode(raw: bytes, width: int, channels: int) -> np.ndarray:
    if width == 3:  # little-endian 24-bit: place in the top 3 bytes of an int32, then shift back down
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        wide = np.zeros((len(b), 4), dtype=np.uint8)
        wide[:, 1:] = b
        data = wide.view("<i4").reshape(-1) >> 8
    else:
        data = np.frombuffer(raw, dtype={1: np.uint8, 2: "<i2", 4: "<i4"}[width])
    return data.reshape(-1, channels)                                  # (frames, channels)


def load(uri, frame_offset: int = 0, num_frames: int = -1, normalize: bool = True, channels_first: bool = True,
         format: str | None = None):
    """``(waveform, sample_rate)`` of a WAV file: float32 in [-1, 1) when ``normalize``, else the raw
    integer samples (uint8 / int16 / int32); shape (channels, frames), or (frames, channels)."""
    if format not in (None, "wav"):
        raise ValueError(f"blaze.audio reads WAV only, got format={format!r}")
    if frame_offset < 0:
        raise ValueError(f"frame_offset must be non-negative, got {frame_offset}")
    with _open(uri) as w:
        width, channels, rate, total = w.getsampwidth(), w.getnchannels(), w.getframerate(), w.getnframes()
        if width not in _FULL_SCALE:
            raise RuntimeError(f"{uri}: {8 * width}-bit samples are not supported")
        w.setpos(min(frame_offset, total))
        raw = w.readframes(total if num_frames < 0 else num_frames)
    data = _decode(raw, width, channels)
    if normalize:
        centred = data.astype(np.float32) - (128.0 if width == 1 else 0.0)
        data = centred / np.float32(_FULL_SCALE[width])
    out = data.T if channels_first else data
    return blaze.from_numpy(np.ascontiguousarray(out)), rate


_ENCODINGS = {("PCM_U", 8): 1, ("PCM_S", 16): 2, ("PCM_S", 24): 3, ("PCM_S", 32): 4}


def save(uri, src, sample_rate: int, channels_first: bool = True, format: str | None = None,
         encoding: str | None = None, bits_per_sample: int | None = None) -> None:
    """Write ``src`` (channels, frames) (or (frames, channels)) as integer-PCM WAV.

    Float input is taken as [-1, 1], clipped and written as 16-bit PCM unless told otherwise
    (torchaudio writes 32-bit float WAV, which ``wave`` cannot); integer input keeps its width.
    """
    if format not in (None, "wav"):
        raise ValueError(f"blaze.audio writes WAV only, got format={format!r}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    a = src.detach().cpu().numpy() if isinstance(src, blaze.Tensor) else np.asarray(src)
    if a.ndim == 1:
        a = a[None, :] if channels_first else a[:, None]
    if a.ndim != 2:
        raise ValueError(f"Expected 1D or 2D audio, got {a.ndim}D")
    frames = a.T if channels_first else a                              # (frames, channels)
    is_float = a.dtype.kind == "f"
    if bits_per_sample is None:
        bits_per_sample = 16 if is_float else {np.uint8: 8, np.int16: 16, np.int32: 32}.get(a.dtype.type)
        if bits_per_sample is None:
            raise ValueError(f"unsupported sample dtype {a.dtype}")
    encoding = encoding or ("PCM_U" if bits_per_sample == 8 else "PCM_S")
    width = _ENCODINGS.get((encoding, bits_per_sample))
    if width is None:
        raise ValueError(f"unsupported encoding {encoding} with {bits_per_sample} bits; choose from "
                         f"{sorted(_ENCODINGS)}")
    scale = _FULL_SCALE[width]
    if is_float:  # round to the nearest code; +1.0 maps to the largest code, not one past it
        ints = np.clip(np.round(frames.astype(np.float64) * scale), -scale, scale - 1).astype(np.int64)
    else:
        ints = frames.astype(np.int64) - (128 if a.dtype == np.uint8 else 0)
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    elif width == 3:
        raw = np.ascontiguousarray(ints, dtype="<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        raw = ints.astype({2: "<i2", 4: "<i4"}[width]).tobytes()
    with wave.open(os.fspath(uri) if isinstance(uri, os.PathLike) else uri, "wb") as w:
        w.setnchannels(frames.shape[1])
        w.setsampwidth(width)
        w.setframerate(int(sample_rate))
        w.writeframes(raw)
