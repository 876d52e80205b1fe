"""blaze.audio.load / save / info: integer-PCM WAV through the standard library, torchaudio's conventions."""
import struct
import wave

import numpy as np
import pytest

import blaze
from blaze import audio


def _write_with_wave(path, ints, width, rate=8000):
    """An independent writer: the stdlib ``wave`` module fed hand-packed little-endian frames."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(ints.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(ints.astype({1: np.uint8, 2: "<i2", 4: "<i4"}[width]).tobytes())


def test_load_16bit_stereo_normalized_and_raw(tmp_path):
    ints = np.array([[0, 32767], [-32768, 16384], [1, -1]], dtype=np.int16)   # (frames, channels)
    _write_with_wave(tmp_path / "a.wav", ints, 2)
    x, sr = audio.load(tmp_path / "a.wav")
    assert sr == 8000 and x.dtype == blaze.float32 and tuple(x.shape) == (2, 3)
    np.testing.assert_allclose(x.numpy(), ints.T / 32768.0)
    raw, _ = audio.load(str(tmp_path / "a.wav"), normalize=False, channels_first=False)
    assert raw.dtype == blaze.int16 and raw.numpy().tolist() == ints.tolist()
    part, _ = audio.load(tmp_path / "a.wav", frame_offset=1, num_frames=1)
    np.testing.assert_allclose(part.numpy(), [[-1.0], [0.5]])
    meta = audio.info(tmp_path / "a.wav")
    assert (meta.sample_rate, meta.num_frames, meta.num_channels, meta.bits_per_sample, meta.encoding) == (
        8000, 3, 2, 16, "PCM_S")


def test_load_8bit_unsigned(tmp_path):
    _write_with_wave(tmp_path / "u8.wav", np.array([[0], [128], [255]]), 1)
    x, _ = audio.load(tmp_path / "u8.wav")
    np.testing.assert_allclose(x.numpy(), [[-1.0, 0.0, 127 / 128]])


@pytest.mark.parametrize("bits", [8, 16, 24, 32])
def test_save_load_roundtrip(tmp_path, bits):
    t = np.linspace(0, 1, 441, endpoint=False)
    wav = np.stack([0.5 * np.sin(2 * np.pi * 5 * t), np.linspace(-1, 1, 441)]).astype(np.float32)   # (2, 441)
    audio.save(tmp_path / "r.wav", blaze.tensor(wav), 44100, bits_per_sample=bits)
    back, sr = audio.load(tmp_path / "r.wav")
    assert sr == 44100 and tuple(back.shape) == (2, 441)
    assert np.abs(back.numpy() - wav).max() <= 1.0 / 2 ** (bits - 1)      # one quantization step (full scale)
    assert audio.info(tmp_path / "r.wav").bits_per_sample == bits


def test_save_24bit_bytes_are_little_endian(tmp_path):
    audio.save(tmp_path / "b.wav", blaze.tensor([[0.5, -0.5]]), 16000, bits_per_sample=24)
    with wave.open(str(tmp_path / "b.wav")) as w:
        assert w.readframes(2) == (4194304).to_bytes(3, "little", signed=True) + (-4194304).to_bytes(3, "little",
                                                                                                      signed=True)


def test_save_int16_keeps_samples(tmp_path):
    ints = blaze.tensor([[3, -7, 32767]], dtype=blaze.int16)
    audio.save(tmp_path / "i.wav", ints, 8000)
    raw, _ = audio.load(tmp_path / "i.wav", normalize=False)
    assert raw.numpy().tolist() == [[3, -7, 32767]]


def test_float_wav_is_refused_clearly(tmp_path):
    data = np.zeros(4, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)        # WAVE_FORMAT_IEEE_FLOAT
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    (tmp_path / "f.wav").write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    with pytest.raises(RuntimeError, match="integer PCM only"):
        audio.load(tmp_path / "f.wav")


def test_save_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unsupported encoding"):
        audio.save(tmp_path / "x.wav", blaze.zeros(1, 4), 8000, bits_per_sample=12)
    with pytest.raises(ValueError, match="sample_rate"):
        audio.save(tmp_path / "x.wav", blaze.zeros(1, 4), 0)
    assert not (tmp_path / "x.wav").exists()
