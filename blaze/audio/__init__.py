"""blaze.audio: torchaudio's feature transforms and WAV input/output.

``blaze.audio.transforms`` (Spectrogram, MelSpectrogram, MFCC, AmplitudeToDB, Resample, MelScale),
``blaze.audio.functional`` (the same as functions), ``blaze.audio.load`` / ``save`` / ``info`` for
integer-PCM WAV through the standard library.
"""
from . import functional, transforms  # noqa: F401
from ._wav import AudioMetaData, info, load, save  # noqa: F401

__all__ = ["functional", "transforms", "load", "save", "info", "AudioMetaData"]
