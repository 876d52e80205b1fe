"""Transforms against direct Pillow / NumPy computations."""
import numpy as np
import pytest
from PIL import Image, ImageEnhance

import blaze
from blaze.vision import transforms as T


def _rgb(h=20, w=30, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def _grey(h=20, w=30, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8), "L")


def test_to_tensor():
    img = _rgb()
    t = T.ToTensor()(img)
    assert t.dtype == blaze.float32 and tuple(t.shape) == (3, 20, 30)
    np.testing.assert_allclose(t.numpy(), np.asarray(img).transpose(2, 0, 1) / 255.0, rtol=1e-6)
    g = T.ToTensor()(_grey())
    assert tuple(g.shape) == (1, 20, 30) and float(g.numpy().max()) <= 1.0
    f = T.ToTensor()(np.full((4, 5, 2), 3.5, np.float32))  # non-uint8 arrays are not rescaled
    assert tuple(f.shape) == (2, 4, 5) and float(f.numpy()[0, 0, 0]) == 3.5
    p = T.PILToTensor()(img)
    assert p.dtype == blaze.uint8
    np.testing.assert_array_equal(p.numpy(), np.asarray(img).transpose(2, 0, 1))


def test_normalize():
    x = T.ToTensor()(_rgb())
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    out = T.Normalize(mean, std)(x).numpy()
    ref = (x.numpy() - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    with pytest.raises(ValueError, match="division by zero"):
        T.Normalize((0.5,), (0.0,))
    with pytest.raises(TypeError):
        T.Normalize((0.5,), (0.5,))(_grey())


def test_resize():
    img = _rgb(20, 30)
    out = T.Resize(10)(img)  # shorter side (h = 20) -> 10, long side 30 * 10 / 20 = 15
    assert out.size == (15, 10)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.resize((15, 10), Image.BILINEAR)))
    exact = T.Resize((7, 9), interpolation=T.InterpolationMode.NEAREST)(img)
    np.testing.assert_array_equal(np.asarray(exact), np.asarray(img.resize((9, 7), Image.NEAREST)))
    t = T.Resize((10, 15))(T.ToTensor()(img))
    assert tuple(t.shape) == (3, 10, 15)


def test_center_crop():
    img = _rgb(20, 30)
    out = T.CenterCrop((10, 12))(img)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img)[5:15, 9:21])
    big = T.CenterCrop(24)(_grey(20, 20))  # larger than the image: zero padding around it
    arr = np.asarray(big)
    assert arr.shape == (24, 24) and arr[:2].max() == 0 and arr[:, :2].max() == 0
    np.testing.assert_array_equal(arr[2:22, 2:22], np.asarray(_grey(20, 20)))


def test_random_crop_matches_its_draws():
    img = _grey(20, 30)
    blaze.manual_seed(0)
    out = np.asarray(T.RandomCrop(16, padding=3, fill=7)(img))
    padded = np.pad(np.asarray(img), 3, constant_values=7)
    blaze.manual_seed(0)
    rng = blaze.random.numpy_rng()
    i, j = int(rng.integers(0, 26 - 16 + 1)), int(rng.integers(0, 36 - 16 + 1))
    np.testing.assert_array_equal(out, padded[i:i + 16, j:j + 16])
    grown = T.RandomCrop((24, 34), pad_if_needed=True)(img)
    assert grown.size == (34, 24)
    with pytest.raises(ValueError, match="larger than input image size"):
        T.RandomCrop(40)(img)


def test_random_resized_crop():
    img = _rgb(40, 50)
    tf = T.RandomResizedCrop(12, scale=(0.2, 0.6))
    blaze.manual_seed(3)
    out = tf(img)
    blaze.manual_seed(3)
    i, j, h, w = T.RandomResizedCrop.get_params(img, (0.2, 0.6), (3 / 4, 4 / 3))
    assert 0.2 * 2000 * 0.8 <= h * w <= 0.6 * 2000 * 1.2 and 3 / 4 - 0.1 <= w / h <= 4 / 3 + 0.1
    ref = img.crop((j, i, j + w, i + h)).resize((12, 12), Image.BILINEAR)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))


def test_flips_on_images_and_tensors():
    img = _rgb()
    np.testing.assert_array_equal(np.asarray(T.RandomHorizontalFlip(1.0)(img)), np.asarray(img)[:, ::-1])
    np.testing.assert_array_equal(np.asarray(T.RandomVerticalFlip(1.0)(img)), np.asarray(img)[::-1])
    assert T.RandomHorizontalFlip(0.0)(img) is img
    t = T.ToTensor()(img)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(t).numpy(), t.numpy()[:, :, ::-1])
    blaze.manual_seed(0)
    flips = [T.RandomHorizontalFlip()(img) is not img for _ in range(200)]
    assert 70 < sum(flips) < 130


def test_random_rotation():
    img = _grey(20, 20)
    out = T.RandomRotation((90, 90))(img)
    np.testing.assert_array_equal(np.asarray(out), np.rot90(np.asarray(img)))  # counter-clockwise
    blaze.manual_seed(1)
    a = np.asarray(T.RandomRotation(30, fill=255)(img))
    blaze.manual_seed(1)
    angle = float(blaze.random.numpy_rng().uniform(-30, 30))
    np.testing.assert_array_equal(a, np.asarray(img.rotate(angle, Image.NEAREST, fillcolor=255)))
    with pytest.raises(ValueError):
        T.RandomRotation(-5)


def test_color_jitter():
    img = _rgb()
    out = T.ColorJitter(brightness=(1.7, 1.7))(img)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ImageEnhance.Brightness(img).enhance(1.7)))
    sat = T.ColorJitter(saturation=(0.3, 0.3))(img)
    np.testing.assert_array_equal(np.asarray(sat), np.asarray(ImageEnhance.Color(img).enhance(0.3)))
    hue = np.asarray(T.ColorJitter(hue=(0.25, 0.25))(img))
    h, s, v = (np.asarray(c) for c in img.convert("HSV").split())
    ref = Image.merge("HSV", [Image.fromarray((h.astype(np.int32) + 63) % 256).convert("L"),
                              Image.fromarray(s), Image.fromarray(v)]).convert("RGB")
    np.testing.assert_array_equal(hue, np.asarray(ref))
    tf = T.ColorJitter(0.4, 0.4, 0.4, 0.1)
    blaze.manual_seed(2)
    a = np.asarray(tf(img))
    blaze.manual_seed(2)
    np.testing.assert_array_equal(np.asarray(tf(img)), a)
    with pytest.raises(ValueError):
        T.ColorJitter(hue=0.7)


def test_grayscale_compose_lambda():
    img = _rgb()
    np.testing.assert_array_equal(np.asarray(T.Grayscale()(img)), np.asarray(img.convert("L")))
    g3 = np.asarray(T.Grayscale(3)(img))
    assert g3.shape == (20, 30, 3) and (g3[..., 0] == g3[..., 2]).all()
    t = T.Grayscale()(T.ToTensor()(img))
    assert tuple(t.shape) == (1, 20, 30)
    ref = np.tensordot([0.299, 0.587, 0.114], np.asarray(img).transpose(2, 0, 1) / 255.0, axes=1)
    np.testing.assert_allclose(t.numpy()[0], ref, atol=1e-5)
    pipe = T.Compose([T.Grayscale(), T.ToTensor(), T.Lambda(lambda x: x.numpy().sum())])
    assert pipe(img) == pytest.approx(np.asarray(img.convert("L"), np.float64).sum() / 255, rel=1e-5)


def test_random_apply_and_random_grayscale():
    img = _rgb()
    flip = T.RandomApply([T.RandomHorizontalFlip(1.0), T.RandomVerticalFlip(1.0)], p=1.0)
    np.testing.assert_array_equal(np.asarray(flip(img)), np.asarray(img)[::-1, ::-1])
    assert T.RandomApply([T.RandomHorizontalFlip(1.0)], p=0.0)(img) is img
    g = T.RandomGrayscale(p=1.0)(img)
    assert g.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(g)[..., 1], np.asarray(img.convert("L")))
    blaze.manual_seed(0)
    picks = sum(T.RandomGrayscale(p=0.3)(img) is not img for _ in range(300))
    assert 60 < picks < 120
