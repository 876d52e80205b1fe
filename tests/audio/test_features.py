"""blaze.audio transforms against NumPy references written from the formulas torchaudio documents
(np.fft.rfft for the STFT, per-filter triangles, the DCT-II sum, a direct windowed-sinc sum)."""
import math

import numpy as np
import pytest

import blaze
from blaze.audio import functional as AF
from blaze.audio import transforms as T


def _wave(n=1600, batch=(), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((*batch, n))


def _ref_spec(x, n_fft=400, win=None, hop=None, power=2.0, center=True, normalized=False):
    win = win or n_fft
    hop = hop or win // 2
    w = np.zeros(n_fft)
    left = (n_fft - win) // 2
    w[left:left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)   # periodic Hann
    if center:
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(n_fft // 2, n_fft // 2)], mode="reflect")
    n = 1 + (x.shape[-1] - n_fft) // hop
    frames = np.stack([x[..., i * hop:i * hop + n_fft] * w for i in range(n)], axis=-2)
    S = np.fft.rfft(frames, axis=-1)
    if normalized:
        S = S / np.sqrt((w ** 2).sum())
    return np.swapaxes(np.abs(S) ** power, -1, -2)


@pytest.mark.parametrize("kw", [{}, {"n_fft": 256, "hop_length": 100}, {"n_fft": 128, "win_length": 96},
                                {"power": 1.0, "normalized": True}, {"center": False}])
def test_spectrogram_matches_numpy_fft(kw):
    x = _wave(batch=(2, 3))
    got = T.Spectrogram(**kw, wkwargs={"dtype": blaze.float64})(blaze.tensor(x, dtype=blaze.float64)).numpy()
    ref = _ref_spec(x, kw.get("n_fft", 400), kw.get("win_length"), kw.get("hop_length"), kw.get("power", 2.0),
                    kw.get("center", True), kw.get("normalized", False))
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def test_spectrogram_default_shape_and_float32():
    spec = T.Spectrogram()(blaze.tensor(_wave(16000, (1,)), dtype=blaze.float32))
    assert tuple(spec.shape) == (1, 201, 81) and spec.dtype == blaze.float32   # torchaudio: 400 / 200 hop


def test_spectrogram_gradient_matches_finite_differences():
    x0 = _wave(64, seed=3)
    weights = np.random.default_rng(4).standard_normal((17, 9))
    spec = T.Spectrogram(n_fft=32, hop_length=8, power=1.0, wkwargs={"dtype": blaze.float64})

    def f(v):
        return float((spec(blaze.tensor(v, dtype=blaze.float64)).numpy() * weights).sum())

    x = blaze.tensor(x0, dtype=blaze.float64, requires_grad=True)
    (spec(x) * blaze.tensor(weights)).sum().backward()
    eps, num = 1e-6, np.zeros_like(x0)
    for i in range(len(x0)):
        d = np.zeros_like(x0)
        d[i] = eps
        num[i] = (f(x0 + d) - f(x0 - d)) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), num, rtol=1e-5, atol=1e-6)


def test_spectrogram_errors():
    with pytest.raises(NotImplementedError, match="complex"):
        T.Spectrogram(power=None)(blaze.zeros(800))
    with pytest.raises(RuntimeError, match="Padding size should be less"):
        T.Spectrogram()(blaze.zeros(100))
    with pytest.raises(ValueError, match="normalized"):
        T.Spectrogram(normalized="energy")(blaze.zeros(800))


def _ref_fbanks(n_freqs, f_min, f_max, n_mels, sr, norm, scale):
    if scale == "htk":
        to_mel, to_hz = (lambda f: 2595 * math.log10(1 + f / 700)), (lambda m: 700 * (10 ** (m / 2595) - 1))
    else:
        to_mel = (lambda f: f * 3 / 200 if f < 1000 else 15 + math.log(f / 1000) * 27 / math.log(6.4))
        to_hz = (lambda m: m * 200 / 3 if m < 15 else 1000 * math.exp((m - 15) * math.log(6.4) / 27))
    lo, hi = to_mel(f_min), to_mel(f_max)
    pts = [to_hz(lo + (hi - lo) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    freqs = np.linspace(0, sr // 2, n_freqs)
    fb = np.zeros((n_freqs, n_mels))
    for m in range(n_mels):
        a, c, b = pts[m], pts[m + 1], pts[m + 2]
        for i, f in enumerate(freqs):
            if a <= f <= c:
                fb[i, m] = (f - a) / (c - a)
            elif c < f <= b:
                fb[i, m] = (b - f) / (b - c)
        if norm == "slaney":
            fb[:, m] *= 2 / (b - a)
    return fb


@pytest.mark.parametrize("norm,scale", [(None, "htk"), ("slaney", "slaney"), (None, "slaney")])
def test_melscale_fbanks(norm, scale):
    got = AF.melscale_fbanks(201, 20.0, 7600.0, 40, 16000, norm, scale).numpy()
    np.testing.assert_allclose(got, _ref_fbanks(201, 20.0, 7600.0, 40, 16000, norm, scale), rtol=1e-5, atol=1e-7)


def test_create_dct_is_the_dct_ii_sum():
    N, K = 20, 13
    x = _wave(N)
    got = x @ AF.create_dct(K, N, "ortho").numpy().astype(np.float64)
    ref = [math.sqrt((1 if k == 0 else 2) / N) * sum(x[n] * math.cos(math.pi * k * (2 * n + 1) / (2 * N))
                                                       for n in range(N)) for k in range(K)]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    full = AF.create_dct(N, N, "ortho").numpy()
    np.testing.assert_allclose(full.T @ full, np.eye(N), atol=1e-5)          # orthonormal
    np.testing.assert_allclose(AF.create_dct(K, N, None).numpy()[:, 0], 2 * np.cos(np.pi * (np.arange(N) + .5) * 0 / N),
                               atol=1e-6)


def test_amplitude_to_db_and_top_db_per_spectrogram():
    x = blaze.tensor([[[[1.0, 100.0], [1e-12, 0.5]]], [[[1e-3, 1e-4], [1e-5, 1e-6]]]])   # (2, 1, 2, 2)
    db = T.AmplitudeToDB()(x).numpy()
    np.testing.assert_allclose(db[0, 0], [[0, 20], [-100, 10 * math.log10(0.5)]], rtol=1e-5)
    top = T.AmplitudeToDB(top_db=25)(x).numpy()
    np.testing.assert_allclose(top[0, 0], [[0, 20], [-5, 10 * math.log10(0.5)]], rtol=1e-5)   # floor 20 - 25
    np.testing.assert_allclose(top[1, 0], [[-30, -40], [-50, -55]], rtol=1e-5)              # its own max: -30
    np.testing.assert_allclose(T.AmplitudeToDB("magnitude")(blaze.tensor([10.0])).numpy(), [20.0])
    with pytest.raises(ValueError, match="top_db"):
        T.AmplitudeToDB(top_db=-1)


def test_mel_spectrogram_and_mfcc_compose_the_references():
    x = _wave(4000, (2,))
    mel = T.MelSpectrogram(sample_rate=8000, n_fft=256, n_mels=32, f_min=50.0, wkwargs={"dtype": blaze.float64})
    ref_mel = np.einsum("...ft,fm->...mt", _ref_spec(x, 256), _ref_fbanks(129, 50.0, 4000.0, 32, 8000, None, "htk"))
    got = mel(blaze.tensor(x, dtype=blaze.float64)).numpy()
    np.testing.assert_allclose(got, ref_mel, rtol=1e-5, atol=1e-8)
    mfcc = T.MFCC(sample_rate=8000, n_mfcc=13, melkwargs={"n_fft": 256, "n_mels": 32, "f_min": 50.0,
                                                          "wkwargs": {"dtype": blaze.float64}})
    db = 10 * np.log10(np.maximum(ref_mel, 1e-10))
    db = np.maximum(db, db.max(axis=(-2, -1), keepdims=True) - 80)            # each 2D input is one spectrogram
    ref = np.einsum("bmt,mk->bkt", db, AF.create_dct(13, 32, "ortho").numpy().astype(np.float64))
    np.testing.assert_allclose(mfcc(blaze.tensor(x, dtype=blaze.float64)).numpy(), ref, rtol=1e-4, atol=1e-3)
    assert tuple(T.MFCC()(blaze.zeros(1, 16000)).shape) == (1, 40, 81)      # torchaudio's defaults
    with pytest.raises(ValueError, match="more MFCC coefficients"):
        T.MFCC(n_mfcc=200)


def _ref_resample(x, orig, new, width=6, rolloff=0.99):
    g = math.gcd(orig, new)
    o, n = orig // g, new // g
    base = min(o, n) * rolloff
    out = []
    for j in range(math.ceil(len(x) * n / o)):
        acc = 0.0
        for i in range(len(x)):
            t = (i / o - j / n) * base
            if abs(t) >= width:
                continue
            win = math.cos(t * math.pi / width / 2) ** 2
            acc += x[i] * (1.0 if t == 0 else math.sin(math.pi * t) / (math.pi * t)) * win * base / o
        out.append(acc)
    return np.array(out)


@pytest.mark.parametrize("orig,new", [(16000, 8000), (8000, 12000), (44100, 16000)])
def test_resample_matches_direct_windowed_sinc_sum(orig, new):
    x = _wave(120 if orig != 44100 else 441, seed=5)
    got = T.Resample(orig, new, dtype=blaze.float64)(blaze.tensor(x, dtype=blaze.float64)).numpy()
    np.testing.assert_allclose(got, _ref_resample(x, orig, new), rtol=1e-6, atol=1e-9)


def test_resample_keeps_a_low_tone_and_identity():
    t = np.arange(16000) / 16000
    y = AF.resample(blaze.tensor(np.sin(2 * np.pi * 440 * t)), 16000, 22050).numpy()
    assert len(y) == 22050
    t2 = np.arange(22050) / 22050
    assert np.abs(y[200:-200] - np.sin(2 * np.pi * 440 * t2)[200:-200]).max() < 1e-3
    x = blaze.randn(3, 50)
    assert T.Resample(16000, 16000)(x) is x
    with pytest.raises(ValueError, match="integer"):
        T.Resample(16000.5, 8000)
    with pytest.raises(ValueError, match="Invalid resampling method"):
        T.Resample(16000, 8000, resampling_method="linear")


def test_mfcc_and_resample_on_cuda_match_cpu():
    x = blaze.tensor(_wave(1200, (2,)), dtype=blaze.float32)
    for module in (T.MFCC(sample_rate=8000, n_mfcc=13, melkwargs={"n_fft": 128, "n_mels": 24}),
                   T.Resample(8000, 6000)):
        want = module(x).numpy()
        got = module.to("cuda")(x.to("cuda"))
        assert got.device.type == "cuda"
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-4, atol=1e-3)
