"""torchvision.io's image functions, through Pillow: files <-> uint8 tensors of shape (C, H, W).

    img = read_image("cat.jpg", ImageReadMode.RGB)   # uint8 (3, H, W)
    write_png(img, "cat.png")

Decoding reads untrusted bytes: Pillow refuses images past its decompression-bomb limit
(about 179 million pixels) and anything it cannot decode raises ``RuntimeError`` naming why.
"""
from __future__ import annotations

import io
from enum import Enum
from pathlib import Path

import numpy as np
from PIL import Image

import blaze


class ImageReadMode(Enum):
    """The channels ``decode_image`` returns (torchvision's values)."""

    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4


_PIL_MODES = {ImageReadMode.GRAY: "L", ImageReadMode.GRAY_ALPHA: "LA", ImageReadMode.RGB: "RGB",
              ImageReadMode.RGB_ALPHA: "RGBA"}
_CHANNELS_TO_PIL = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def read_file(path) -> blaze.Tensor:
    """The bytes of a file as a 1-D uint8 tensor."""
    return blaze.from_numpy(np.frombuffer(Path(path).read_bytes(), dtype=np.uint8).copy())


def write_file(filename, data) -> None:
    """Write a 1-D uint8 tensor's bytes to ``filename``."""
    Path(filename).write_bytes(_bytes_of(data))


def _bytes_of(data) -> bytes:
    if not isinstance(data, blaze.Tensor) or data.dtype != blaze.uint8 or data.dim() != 1:
        raise TypeError("Input tensor must be a one dimensional uint8 tensor")
    return data.numpy().tobytes()


def decode_image(input, mode: ImageReadMode = ImageReadMode.UNCHANGED) -> blaze.Tensor:
    """Decode PNG/JPEG/GIF/BMP/WebP bytes (a 1-D uint8 tensor, or a path) into uint8 ``(C, H, W)``."""
    raw = Path(input).read_bytes() if isinstance(input, (str, Path)) else _bytes_of(input)
    if isinstance(mode, str):
        mode = ImageReadMode[mode.upper()]
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            if mode is ImageReadMode.UNCHANGED:
                if img.mode not in ("L", "LA", "RGB", "RGBA"):
                    img = img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB")
            else:
                img = img.convert(_PIL_MODES[mode])
            arr = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise RuntimeError(f"cannot decode the image ({type(e).__name__}: {e})") from e
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return blaze.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))  # (H, W, C) -> (C, H, W)


def read_image(path, mode: ImageReadMode = ImageReadMode.UNCHANGED) -> blaze.Tensor:
    """``decode_image(read_file(path), mode)``."""
    return decode_image(read_file(path), mode)


def _to_pil(input) -> Image.Image:
    if not isinstance(input, blaze.Tensor) or input.dtype != blaze.uint8:
        raise TypeError("Input tensor dtype should be uint8")
    if input.dim() != 3 or input.shape[0] not in _CHANNELS_TO_PIL:
        raise ValueError(f"The input tensor should have shape (C, H, W) with C in 1..4, got {tuple(input.shape)}")
    arr = input.detach().cpu().numpy().transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    arr = arr[:, :, 0] if arr.shape[2] == 1 else arr
    return Image.fromarray(np.ascontiguousarray(arr), mode=_CHANNELS_TO_PIL[input.shape[0]])


def _encode(img: Image.Image, fmt: str, **options) -> blaze.Tensor:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return blaze.from_numpy(np.frombuffer(buf.getvalue(), dtype=np.uint8).copy())


def encode_png(input, compression_level: int = 6) -> blaze.Tensor:
    """A uint8 ``(C, H, W)`` image (C = 1..4) as PNG bytes in a 1-D uint8 tensor."""
    if not 0 <= compression_level <= 9:
        raise ValueError("Compression level should be between 0 and 9")
    return _encode(_to_pil(input), "PNG", compress_level=compression_level)


def write_png(input, filename, compression_level: int = 6) -> None:
    write_file(filename, encode_png(input, compression_level))


def encode_jpeg(input, quality: int = 75) -> blaze.Tensor:
    """A uint8 ``(C, H, W)`` image (C = 1 or 3) as JPEG bytes in a 1-D uint8 tensor."""
    if not 1 <= quality <= 100:
        raise ValueError("Image quality should be a positive number between 1 and 100")
    if input.dim() == 3 and input.shape[0] not in (1, 3):
        raise ValueError(f"JPEG holds 1 or 3 channels, got {input.shape[0]}")
    return _encode(_to_pil(input), "JPEG", quality=quality)


def write_jpeg(input, filename, quality: int = 75) -> None:
    write_file(filename, encode_jpeg(input, quality))
