"""Image transforms with torchvision's names and semantics, on Pillow images and NumPy.

Geometric and colour transforms take PIL images; ``ToTensor`` / ``PILToTensor`` turn them into
blaze tensors (C, H, W); ``Normalize`` works on tensors. Flips and crops also accept tensors
and NumPy arrays shaped (..., H, W). Random transforms draw from blaze's default generator
(``blaze.random.numpy_rng()``), so ``blaze.manual_seed`` -- and the DataLoader's per-batch
seeding -- makes them reproducible.

Example::

    T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(), T.ToTensor(),
               T.Normalize((0.286,), (0.353,))])
"""
from __future__ import annotations

import math
import numbers
from enum import Enum

import numpy as np
from PIL import Image, ImageEnhance

import blaze


class InterpolationMode(Enum):
    """Resampling filters (torchvision's enum); values are Pillow's constants."""

    NEAREST = Image.Resampling.NEAREST
    BILINEAR = Image.Resampling.BILINEAR
    BICUBIC = Image.Resampling.BICUBIC
    BOX = Image.Resampling.BOX
    HAMMING = Image.Resampling.HAMMING
    LANCZOS = Image.Resampling.LANCZOS


def _pil_filter(mode) -> int:
    return mode.value if isinstance(mode, InterpolationMode) else int(mode)


def _rng():
    return blaze.random.numpy_rng()


def _size2(size, name="size") -> tuple[int, int]:
    """int or (s,) -> (s, s); (h, w) stays."""
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if len(size) == 1:
        return int(size[0]), int(size[0])
    if len(size) != 2:
        raise ValueError(f"{name} should be an int or a sequence of 1 or 2 ints, got {size}")
    return int(size[0]), int(size[1])


def _is_tensor(x) -> bool:
    return isinstance(x, blaze.Tensor)


def _hw(img) -> tuple[int, int]:
    if isinstance(img, Image.Image):
        return img.height, img.width
    return int(img.shape[-2]), int(img.shape[-1])


def _array_op(img, fn):
    """Apply ``fn`` to the (..., H, W) NumPy view of a tensor or array; same kind comes back."""
    if _is_tensor(img):
        return blaze.from_numpy(np.ascontiguousarray(fn(img.numpy())))
    return np.ascontiguousarray(fn(np.asarray(img)))


def _check_img(img, who):
    if not isinstance(img, Image.Image):
        raise TypeError(f"{who} expects a PIL Image, got {type(img).__name__}")


class Compose:
    """Apply transforms one after the other."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        inner = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({inner}\n)"


class Lambda:
    """Wrap a function as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)


# ---- to tensor -------------------------------------------------------------------------

def _pil_to_hwc(pic) -> np.ndarray:
    if pic.mode == "1":
        arr = np.asarray(pic, dtype=np.uint8) * 255  # torchvision: 1-bit pixels become 0 / 255
    else:
        arr = np.asarray(pic)
    return arr[:, :, None] if arr.ndim == 2 else arr


class ToTensor:
    """PIL image or (H, W[, C]) ndarray -> float32 tensor (C, H, W); uint8 is scaled to [0, 1]."""

    def __call__(self, pic):
        if isinstance(pic, Image.Image):
            arr = _pil_to_hwc(pic)
        elif isinstance(pic, np.ndarray):
            if pic.ndim not in (2, 3):
                raise ValueError(f"pic should be 2 or 3 dimensional. Got {pic.ndim} dimensions.")
            arr = pic[:, :, None] if pic.ndim == 2 else pic
        else:
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic).__name__}")
        chw = arr.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
        if chw.dtype == np.uint8:
            out = chw.astype(np.float32) * np.float32(1 / 255)
        else:
            out = np.ascontiguousarray(chw)
        return blaze.from_numpy(np.ascontiguousarray(out))

    def __repr__(self):
        return "ToTensor()"


class PILToTensor:
    """PIL image -> tensor (C, H, W) of the image's own dtype (uint8 stays uint8, unscaled)."""

    def __call__(self, pic):
        _check_img(pic, "PILToTensor")
        return blaze.from_numpy(np.ascontiguousarray(_pil_to_hwc(pic).transpose(2, 0, 1)))  # HWC -> CHW


class ToPILImage:
    """Tensor / ndarray (C, H, W) float in [0, 1] or uint8 -> PIL image (L, LA, RGB or RGBA)."""

    def __init__(self, mode=None):
        self.mode = mode

    def __call__(self, pic):
        arr = pic.numpy() if _is_tensor(pic) else np.asarray(pic)
        if arr.ndim == 3 and _is_tensor(pic):
            arr = arr.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
        if arr.dtype.kind == "f":
            arr = (arr * 255).clip(0, 255).astype(np.uint8)  # torchvision truncates: mul(255).byte()
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        return Image.fromarray(arr, mode=self.mode) if self.mode else Image.fromarray(arr)


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel of a float tensor (..., C, H, W)."""

    def __init__(self, mean, std, inplace: bool = False):
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if any(s == 0 for s in self.std):
            raise ValueError(f"std evaluated to zero after conversion to float, leading to division by zero: {std}")
        self.inplace = inplace

    def __call__(self, tensor):
        if not _is_tensor(tensor):
            raise TypeError(f"Normalize expects a tensor, got {type(tensor).__name__}")
        if tensor.dtype not in (blaze.float32, getattr(blaze, "float64", None), getattr(blaze, "float16", None)):
            raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
        dev = getattr(tensor, "device", "cpu")
        if getattr(dev, "type", str(dev)) != "cpu":  # on a GPU: tensor ops, no host round trip
            shape = (-1, 1, 1)  # broadcast over (C, H, W)
            mean = blaze.tensor(self.mean, dtype=tensor.dtype, device=dev).reshape(shape)
            std = blaze.tensor(self.std, dtype=tensor.dtype, device=dev).reshape(shape)
            return (tensor - mean) / std
        x = tensor.numpy()
        c = x.shape[-3]
        mean = np.asarray(self.mean, dtype=x.dtype)
        std = np.asarray(self.std, dtype=x.dtype)
        if mean.size not in (1, c) or std.size not in (1, c):
            raise ValueError(f"mean/std have {mean.size}/{std.size} values but the tensor has {c} channels")
        shape = (-1, 1, 1)  # broadcast over (C, H, W)
        if self.inplace:
            x -= mean.reshape(shape)
            x /= std.reshape(shape)
            return tensor
        return blaze.from_numpy((x - mean.reshape(shape)) / std.reshape(shape))

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


# ---- geometry -----------------------------------------------------------------------------

def _resize_pil(img, hw, interpolation):
    return img.resize((hw[1], hw[0]), _pil_filter(interpolation))


def _resize_array(x, hw, interpolation):
    """Each (H, W) plane through a Pillow 'F' image: same filters as for PIL inputs."""
    planes = x.reshape(-1, x.shape[-2], x.shape[-1]).astype(np.float32)  # (..., H, W) -> (N, H, W)
    out = np.stack([np.asarray(_resize_pil(Image.fromarray(p, mode="F"), hw, interpolation)) for p in planes])
    return out.reshape(*x.shape[:-2], *hw).astype(x.dtype if x.dtype.kind == "f" else np.float32)


class Resize:
    """Resize to ``size``: an int matches the shorter side (aspect kept), ``(h, w)`` is exact."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
        self.size = size
        self.interpolation = interpolation
        self.max_size = max_size

    def _target(self, h, w):
        if isinstance(self.size, numbers.Number) or len(self.size) == 1:
            s = int(self.size if isinstance(self.size, numbers.Number) else self.size[0])
            short, long = (w, h) if w <= h else (h, w)
            new_short, new_long = s, int(s * long / short)
            if self.max_size is not None:
                if self.max_size <= s:
                    raise ValueError(f"max_size = {self.max_size} must be strictly greater than the requested size {s}")
                if new_long > self.max_size:
                    new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
            return (new_long, new_short) if w <= h else (new_short, new_long)
        return _size2(self.size)

    def __call__(self, img):
        hw = self._target(*_hw(img))
        if isinstance(img, Image.Image):
            return _resize_pil(img, hw, self.interpolation)
        return _array_op(img, lambda x: _resize_array(x, hw, self.interpolation))


def _crop(img, top, left, h, w):
    if isinstance(img, Image.Image):
        return img.crop((left, top, left + w, top + h))  # Pillow fills outside pixels with 0
    return _array_op(img, lambda x: x[..., top:top + h, left:left + w])


def _pad_amounts(padding):
    """int / (lr, tb) / (l, t, r, b) -> (left, top, right, bottom)."""
    if isinstance(padding, numbers.Number):
        p = int(padding)
        return p, p, p, p
    padding = [int(p) for p in padding]
    if len(padding) == 1:
        return (padding[0],) * 4
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    if len(padding) == 4:
        return tuple(padding)
    raise ValueError(f"Padding must be an int or a 1, 2, or 4 element sequence, got {len(padding)} elements")


_NP_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


def pad(img, padding, fill=0, padding_mode="constant"):
    """Pad a PIL image or (..., H, W) array/tensor on its borders (torchvision.transforms.functional.pad)."""
    if padding_mode not in _NP_PAD_MODES:
        raise ValueError(f"padding_mode should be one of {sorted(_NP_PAD_MODES)}, got {padding_mode!r}")
    left, top, right, bottom = _pad_amounts(padding)
    widths_hw = [(top, bottom), (left, right)]
    kw = {"constant_values": fill} if padding_mode == "constant" else {}
    if isinstance(img, Image.Image):
        arr = np.asarray(img)
        widths = widths_hw + [(0, 0)] * (arr.ndim - 2)  # (H, W[, C])
        if padding_mode == "constant" and arr.ndim == 3 and not isinstance(fill, numbers.Number):
            out = np.empty((arr.shape[0] + top + bottom, arr.shape[1] + left + right, arr.shape[2]), arr.dtype)
            out[...] = np.asarray(fill, dtype=arr.dtype)
            out[top:top + arr.shape[0], left:left + arr.shape[1]] = arr
        else:
            out = np.pad(arr, widths, mode=_NP_PAD_MODES[padding_mode], **kw)
        return Image.fromarray(out, mode=img.mode) if img.mode not in ("1", "P") else Image.fromarray(out)
    return _array_op(img, lambda x: np.pad(x, [(0, 0)] * (x.ndim - 2) + widths_hw,
                                           mode=_NP_PAD_MODES[padding_mode], **kw))


class Pad:
    """Pad the borders: ``padding`` is int, (left/right, top/bottom) or (left, top, right, bottom)."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, img):
        return pad(img, self.padding, self.fill, self.padding_mode)


class CenterCrop:
    """Crop the centre ``size``; an image smaller than that is zero-padded first (torchvision)."""

    def __init__(self, size):
        self.size = _size2(size)

    def __call__(self, img):
        th, tw = self.size
        h, w = _hw(img)
        if th > h or tw > w:
            pl, pt = (tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0
            pr, pb = (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0
            img = pad(img, (pl, pt, pr, pb), fill=0)
            h, w = _hw(img)
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return _crop(img, top, left, th, tw)


class RandomCrop:
    """Crop a random ``size`` window, after optional ``padding`` (and ``pad_if_needed``)."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = _size2(size)
        self.padding, self.pad_if_needed, self.fill, self.padding_mode = padding, pad_if_needed, fill, padding_mode

    @staticmethod
    def get_params(img, output_size):
        """(top, left, h, w) of a random window of ``output_size`` inside ``img``."""
        h, w = _hw(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        if (h, w) == (th, tw):
            return 0, 0, h, w
        rng = _rng()
        i = int(rng.integers(0, h - th + 1))
        j = int(rng.integers(0, w - tw + 1))
        return i, j, th, tw

    def __call__(self, img):
        if self.padding is not None:
            img = pad(img, self.padding, self.fill, self.padding_mode)
        h, w = _hw(img)
        th, tw = self.size
        # torchvision pads the missing amount on BOTH sides, so the window position stays random
        if self.pad_if_needed and w < tw:
            img = pad(img, (tw - w, 0), self.fill, self.padding_mode)
        if self.pad_if_needed and h < th:
            img = pad(img, (0, th - h), self.fill, self.padding_mode)
        return _crop(img, *self.get_params(img, self.size))


class RandomResizedCrop:
    """A random area ``scale`` and aspect ``ratio`` window, resized to ``size``."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR, antialias=True):
        self.size = _size2(size)
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError(f"scale and ratio should be of kind (min, max), got {scale} and {ratio}")
        self.scale, self.ratio, self.interpolation = tuple(scale), tuple(ratio), interpolation

    @staticmethod
    def get_params(img, scale, ratio):
        """(top, left, h, w): 10 tries at a random window, then torchvision's central fallback."""
        height, width = _hw(img)
        area = height * width
        rng = _rng()
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target_area = area * rng.uniform(scale[0], scale[1])
            aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                i = int(rng.integers(0, height - h + 1))
                j = int(rng.integers(0, width - w + 1))
                return i, j, h, w
        in_ratio = width / height
        if in_ratio < min(ratio):
            w, h = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            h, w = height, int(round(height * max(ratio)))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img):
        i, j, h, w = self.get_params(img, self.scale, self.ratio)
        cropped = _crop(img, i, j, h, w)
        return Resize(self.size, self.interpolation)(cropped)


def _flip(img, pil_method, axis):
    if isinstance(img, Image.Image):
        return img.transpose(pil_method)
    return _array_op(img, lambda x: np.flip(x, axis))


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, img):
        if _rng().random() < self.p:
            return _flip(img, Image.Transpose.FLIP_LEFT_RIGHT, -1)
        return img


class RandomApply:
    """Apply the list of ``transforms`` with probability ``p`` (one draw for the whole list)."""

    def __init__(self, transforms, p: float = 0.5):
        self.transforms, self.p = list(transforms), p

    def __call__(self, img):
        if _rng().random() >= self.p:
            return img
        for t in self.transforms:
            img = t(img)
        return img


class RandomGrayscale:
    """:class:`Grayscale` with probability ``p``, keeping the number of channels."""

    def __init__(self, p: float = 0.1):
        self.p = p

    def __call__(self, img):
        if _rng().random() >= self.p:
            return img
        channels = len(img.getbands()) if isinstance(img, Image.Image) else int(img.shape[-3])
        return Grayscale(3 if channels == 3 else 1)(img)


class RandomVerticalFlip:
    """Mirror top-bottom with probability ``p``."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, img):
        if _rng().random() < self.p:
            return _flip(img, Image.Transpose.FLIP_TOP_BOTTOM, -2)
        return img


def _range(value, name, center=1.0, bound=(0, float("inf")), clip_first=True):
    """torchvision's _check_input: a number v -> (center - v, center + v), clipped at 0; or (min, max)."""
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"If {name} is a single number, it must be non negative.")
        lo, hi = center - float(value), center + float(value)
        if clip_first:
            lo = max(lo, 0.0)
    elif len(value) == 2:
        lo, hi = float(value[0]), float(value[1])
    else:
        raise TypeError(f"{name} should be a single number or a list/tuple with length 2.")
    if not bound[0] <= lo <= hi <= bound[1]:
        raise ValueError(f"{name} values should be between {bound}, got {(lo, hi)}")
    return None if lo == hi == center else (lo, hi)


class RandomRotation:
    """Rotate by an angle drawn uniformly from ``degrees`` (a number d means (-d, d)), counter-clockwise."""

    def __init__(self, degrees, interpolation=InterpolationMode.NEAREST, expand=False, center=None, fill=0):
        if isinstance(degrees, numbers.Number):
            if degrees < 0:
                raise ValueError("If degrees is a single number, it must be positive.")
            degrees = (-float(degrees), float(degrees))
        elif len(degrees) != 2:
            raise ValueError("If degrees is a sequence, it must be of len 2.")
        self.degrees = (float(degrees[0]), float(degrees[1]))
        self.interpolation, self.expand, self.center, self.fill = interpolation, expand, center, fill

    @staticmethod
    def get_params(degrees) -> float:
        return float(_rng().uniform(degrees[0], degrees[1]))

    def __call__(self, img):
        _check_img(img, "RandomRotation")
        angle = self.get_params(self.degrees)
        fill = self.fill
        if isinstance(fill, numbers.Number) and len(img.getbands()) > 1:
            fill = (fill,) * len(img.getbands())
        elif not isinstance(fill, numbers.Number):
            fill = tuple(fill)
        return img.rotate(angle, _pil_filter(self.interpolation), self.expand, self.center, fillcolor=fill)


def adjust_hue(img, hue_factor: float):
    """Shift the hue by ``hue_factor`` of a turn, in [-0.5, 0.5] (torchvision's PIL path: HSV, uint8 wrap-around)."""
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")
    if img.mode in ("L", "1", "I", "F"):
        return img
    mode = img.mode
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    with np.errstate(over="ignore"):
        np_h += np.uint8(int(hue_factor * 255) % 256)  # uint8 arithmetic wraps: hue is an angle
    h = Image.fromarray(np_h, "L")
    return Image.merge("HSV", (h, s, v)).convert(mode)


# ColorJitter's four adjustments, in torchvision's fn_idx numbering
_JITTER_FNS = (
    lambda img, f: ImageEnhance.Brightness(img).enhance(f),
    lambda img, f: ImageEnhance.Contrast(img).enhance(f),
    lambda img, f: ImageEnhance.Color(img).enhance(f),
    adjust_hue,
)


class ColorJitter:
    """Random brightness, contrast, saturation and hue changes, applied in a random order.

    A number b means a factor in [max(0, 1 - b), 1 + b]; hue h means a shift in [-h, h] (h <= 0.5).
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        self.brightness = _range(brightness, "brightness")
        self.contrast = _range(contrast, "contrast")
        self.saturation = _range(saturation, "saturation")
        self.hue = _range(hue, "hue", center=0.0, bound=(-0.5, 0.5), clip_first=False)

    @staticmethod
    def get_params(brightness, contrast, saturation, hue):
        """(order of the 4 adjustments, factor or None for each) -- torchvision's draw order."""
        rng = _rng()
        order = rng.permutation(4).tolist()
        factors = [None if r is None else float(rng.uniform(r[0], r[1]))
                   for r in (brightness, contrast, saturation, hue)]
        return order, factors

    def __call__(self, img):
        _check_img(img, "ColorJitter")
        order, factors = self.get_params(self.brightness, self.contrast, self.saturation, self.hue)
        for k in order:
            if factors[k] is not None:
                img = _JITTER_FNS[k](img, factors[k])
        return img


_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601-2 luma, as Pillow's convert("L")


class Grayscale:
    """To grey: 1 output channel (mode 'L') or 3 equal channels (mode 'RGB')."""

    def __init__(self, num_output_channels: int = 1):
        if num_output_channels not in (1, 3):
            raise ValueError("num_output_channels should be either 1 or 3")
        self.num_output_channels = num_output_channels

    def __call__(self, img):
        if isinstance(img, Image.Image):
            grey = img.convert("L")
            if self.num_output_channels == 3:
                arr = np.asarray(grey)
                return Image.fromarray(np.dstack([arr, arr, arr]), "RGB")
            return grey

        def fn(x):
            g = x
            if x.shape[-3] != 1:
                w = _GRAY_WEIGHTS.reshape(3, 1, 1)  # broadcast over (3, H, W)
                g = (x[..., :3, :, :].astype(np.float32) * w).sum(axis=-3, keepdims=True).astype(x.dtype)
            return np.repeat(g, self.num_output_channels, axis=-3)
        return _array_op(img, fn)
