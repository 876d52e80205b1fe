"""blaze.vision.io (torchvision.io through Pillow): files <-> uint8 (C, H, W) tensors."""
import numpy as np
import pytest
from PIL import Image

import blaze
from blaze.vision.io import (ImageReadMode, decode_image, encode_jpeg, encode_png, read_file, read_image, write_file,
                             write_jpeg, write_png)


def _rgb(h=5, w=7, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_png_round_trip_and_modes(tmp_path):
    arr = _rgb()
    Image.fromarray(arr).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.dtype == blaze.uint8 and tuple(img.shape) == (3, 5, 7)
    np.testing.assert_array_equal(img.numpy().transpose(1, 2, 0), arr)          # (C, H, W) of the same pixels
    gray = read_image(str(tmp_path / "a.png"), ImageReadMode.GRAY)
    np.testing.assert_array_equal(gray.numpy()[0], np.asarray(Image.fromarray(arr).convert("L")))
    assert tuple(read_image(tmp_path / "a.png", ImageReadMode.RGB_ALPHA).shape) == (4, 5, 7)
    write_png(img, tmp_path / "b.png", compression_level=9)
    np.testing.assert_array_equal(read_image(tmp_path / "b.png").numpy(), img.numpy())
    np.testing.assert_array_equal(decode_image(encode_png(gray)).numpy(), gray.numpy())


def test_jpeg_and_raw_bytes(tmp_path):
    img = blaze.from_numpy(np.ascontiguousarray(np.full((5, 7, 3), 120, np.uint8).transpose(2, 0, 1)))
    write_jpeg(img, tmp_path / "a.jpg", quality=95)
    raw = read_file(tmp_path / "a.jpg")
    assert raw.dtype == blaze.uint8 and raw.dim() == 1 and bytes(raw.numpy()[:2]) == b"\xff\xd8"  # JPEG SOI
    back = decode_image(raw)
    assert tuple(back.shape) == (3, 5, 7) and np.abs(back.numpy().astype(int) - 120).max() <= 2
    write_file(tmp_path / "copy.jpg", encode_jpeg(img))
    assert (tmp_path / "copy.jpg").read_bytes()[:2] == b"\xff\xd8"


@pytest.mark.parametrize("call, error, message", [
    (lambda: encode_png(blaze.zeros(3, 4, 4)), TypeError, "dtype should be uint8"),
    (lambda: encode_png(blaze.zeros(4, 4, dtype=blaze.uint8)), ValueError, "shape .C, H, W."),
    (lambda: encode_png(blaze.zeros(3, 4, 4, dtype=blaze.uint8), 10), ValueError, "between 0 and 9"),
    (lambda: encode_jpeg(blaze.zeros(3, 4, 4, dtype=blaze.uint8), 0), ValueError, "between 1 and 100"),
    (lambda: encode_jpeg(blaze.zeros(4, 4, 4, dtype=blaze.uint8)), ValueError, "1 or 3 channels"),
    (lambda: write_file("/nonexistent/x", blaze.zeros(3)), TypeError, "one dimensional uint8"),
    (lambda: decode_image(blaze.zeros(10, dtype=blaze.uint8)), RuntimeError, "cannot decode the image"),
])
def test_bad_input_is_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()
