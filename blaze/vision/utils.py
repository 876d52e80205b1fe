"""make_grid / save_image (torchvision.utils): tile a batch of images into one picture."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

import blaze


def _as_array(tensor) -> np.ndarray:
    if isinstance(tensor, (list, tuple)):
        return np.stack([_as_array(t) for t in tensor])
    if isinstance(tensor, blaze.Tensor):
        t = tensor.detach() if hasattr(tensor, "detach") else tensor
        t = t.cpu() if hasattr(t, "cpu") else t
        return np.asarray(t.numpy())
    return np.asarray(tensor)


def _grid_array(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0):
    x = _as_array(tensor)
    if x.ndim == 2:  # single image (H, W) -> (1, H, W)
        x = x[None]
    if x.ndim == 3:  # single image (C, H, W) -> (1, C, H, W)
        if x.shape[0] == 1:
            x = np.concatenate([x, x, x], 0)
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"make_grid expects a 2-4 dimensional tensor or a list of images, got shape {x.shape}")
    if x.shape[1] == 1:  # grey -> 3 equal channels, as torchvision does
        x = np.concatenate([x, x, x], 1)
    x = x.astype(np.float32) if x.dtype.kind != "f" else x.copy()
    if normalize:
        def norm(img, lo, hi):
            np.clip(img, lo, hi, out=img)
            img -= lo
            img /= max(hi - lo, 1e-5)

        if value_range is not None and not (isinstance(value_range, tuple) and len(value_range) == 2):
            raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")
        if scale_each:
            for img in x:
                lo, hi = value_range if value_range is not None else (float(img.min()), float(img.max()))
                norm(img, lo, hi)
        else:
            lo, hi = value_range if value_range is not None else (float(x.min()), float(x.max()))
            norm(x, lo, hi)
    if x.shape[0] == 1:
        return x[0]
    nmaps, c, h, w = x.shape
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(nmaps / xmaps))
    cell_h, cell_w = h + padding, w + padding
    grid = np.full((c, cell_h * ymaps + padding, cell_w * xmaps + padding), pad_value, dtype=x.dtype)
    for k in range(nmaps):
        r, col = divmod(k, xmaps)
        top, left = r * cell_h + padding, col * cell_w + padding
        grid[:, top:top + h, left:left + w] = x[k]
    return grid


def make_grid(tensor, nrow: int = 8, padding: int = 2, normalize: bool = False, value_range=None,
              scale_each: bool = False, pad_value: float = 0.0):
    """Tile images (B, C, H, W) -- or a list of (C, H, W) -- into one (3, H', W') tensor.

    Args:
        nrow: images per row. padding: pixels between images (and around them).
        normalize: shift to [0, 1] using ``value_range`` or the min/max (per image if ``scale_each``).
        pad_value: the value of the padding pixels.

    Example: ``make_grid(images, nrow=10)`` of 64 images 1x28x28 has shape (3, 212, 302).
    """
    return blaze.from_numpy(np.ascontiguousarray(
        _grid_array(tensor, nrow, padding, normalize, value_range, scale_each, pad_value)))


def to_uint8_image(array: np.ndarray) -> Image.Image:
    """(C, H, W) floats in [0, 1] -> a PIL image, rounded as torchvision's save_image does."""
    hwc = np.clip(array * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    if hwc.shape[2] == 1:
        return Image.fromarray(hwc[:, :, 0])
    return Image.fromarray(hwc)


def save_image(tensor, fp, format=None, **kwargs) -> None:
    """Save a tensor or batch (see :func:`make_grid` for the keyword arguments) as an image file."""
    grid = _grid_array(tensor, **kwargs)
    if grid.ndim == 2:
        grid = grid[None]
    to_uint8_image(grid).save(fp, format=format)
