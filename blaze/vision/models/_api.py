"""Weight enums, the model registry and the verified weight download (torchvision.models._api's names).

    from blaze.vision.models import resnet18, ResNet18_Weights
    weights = ResNet18_Weights.IMAGENET1K_V1
    model = resnet18(weights=weights).eval()
    batch = weights.transforms()(img).unsqueeze(0)

A weight file is fetched once through ``blaze.utils.download`` (mirrors, resume, atomic rename)
into ``<cache_dir>/hub/checkpoints`` (``~/.cache/blaze``; ``BLAZE_CACHE_DIR`` moves it), checked
against its SHA-256 (the full digest where recorded, else the 8-hex-digit prefix PyTorch embeds
in the file name, as ``torch.hub`` does), and read with blaze's PyTorch-checkpoint reader, which
never executes code from the file.
"""
from __future__ import annotations

import fnmatch
import functools
import os
import re
import warnings
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable

__all__ = ["Weights", "WeightsEnum", "get_model", "get_model_builder", "get_model_weights", "get_weight",
           "list_models", "load_state_dict_from_url", "ImageClassification", "register_model"]

_HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's rule: "resnet18-f37072fd.pth" -> "f37072fd"


# ---- preprocessing preset ----------------------------------------------------------------------

class ImageClassification:
    """The evaluation preset of torchvision's classification weights: resize, center crop, scale to [0, 1], normalize.

    Accepts a PIL image, a ``(C, H, W)`` or ``(B, C, H, W)`` uint8 or float tensor; returns float32.
    """

    def __init__(self, *, crop_size: int, resize_size: int = 256, mean=(0.485, 0.456, 0.406),
                 std=(0.229, 0.224, 0.225), interpolation=None, antialias: bool | None = True):
        from blaze.vision.transforms import InterpolationMode
        self.crop_size = [crop_size]
        self.resize_size = [resize_size]
        self.mean = list(mean)
        self.std = list(std)
        if isinstance(interpolation, str):  # the weight tables name the mode, so importing them needs no Pillow
            interpolation = InterpolationMode[interpolation.upper()]
        self.interpolation = InterpolationMode.BILINEAR if interpolation is None else interpolation
        self.antialias = antialias

    def __call__(self, img):
        import blaze
        from blaze.vision import transforms as T
        img = T.Resize(self.resize_size, interpolation=self.interpolation, antialias=self.antialias)(img)
        img = T.CenterCrop(self.crop_size)(img)
        if not isinstance(img, blaze.Tensor):
            img = T.PILToTensor()(img)
        if img.dtype == blaze.uint8:
            img = img.float() / 255.0
        return T.Normalize(self.mean, self.std)(img.float())

    forward = __call__

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(\n    crop_size={self.crop_size}\n    resize_size={self.resize_size}\n"
                f"    mean={self.mean}\n    std={self.std}\n    interpolation={self.interpolation}\n)")


# ---- weights -------------------------------------------------------------------------------------

@dataclass(eq=False)
class Weights:
    """One set of pretrained weights: where the file is, how to preprocess inputs, and facts about it.

    Args:
        url: the official file (download.pytorch.org); its name embeds the SHA-256 prefix.
        transforms: builds the preprocessing preset (called, so each user gets a fresh object).
        meta: ``num_params``, ``num_categories``, ``min_size``, ``recipe``, ``_metrics`` (ImageNet-1K accuracy).
        sha256: the full digest where it was recorded; otherwise the file name's prefix is checked.
    """
    url: str
    transforms: Callable
    meta: dict[str, Any]
    sha256: str | None = field(default=None)

    def __eq__(self, other):
        if not isinstance(other, Weights):
            return NotImplemented
        return (self.url, self.meta, self.sha256) == (other.url, other.meta, other.sha256) and \
            _partial_key(self.transforms) == _partial_key(other.transforms)


def _partial_key(f):
    return (f.func, f.args, tuple(sorted(f.keywords.items()))) if isinstance(f, functools.partial) else f


class WeightsEnum(Enum):
    """Base of every ``<Model>_Weights`` enum; each member's value is a :class:`Weights`."""

    @classmethod
    def verify(cls, obj):
        if obj is None:
            return None
        if type(obj) is str:
            name = obj.replace(cls.__name__ + ".", "")
            if name not in cls.__members__:
                raise ValueError(f"{obj!r} is not one of {cls.__name__}'s weights: {', '.join(cls.__members__)}")
            return cls[name]
        if not isinstance(obj, cls):
            raise TypeError(f"Invalid Weight class provided; expected {cls.__name__} but received "
                            f"{type(obj).__name__}.")
        return obj

    def get_state_dict(self, progress: bool = True, model_dir=None, check_hash: bool = True, **kwargs) -> dict:
        return load_state_dict_from_url(self.url, model_dir=model_dir, progress=progress, check_hash=check_hash,
                                        sha256=self.value.sha256, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self._name_}"

    @property
    def url(self) -> str:
        return self.value.url

    @property
    def transforms(self):
        return self.value.transforms

    @property
    def meta(self) -> dict:
        return self.value.meta


# ---- download ------------------------------------------------------------------------------------

def get_dir() -> str:
    """The hub folder (``<cache_dir>/hub``; ``BLAZE_CACHE_DIR`` overrides the cache root): torch.hub.get_dir's role."""
    from blaze._env import cache_dir
    return os.path.join(cache_dir(), "hub")


def load_state_dict_from_url(url: str, model_dir=None, map_location=None, progress: bool = True,
                             check_hash: bool = False, file_name: str | None = None, weights_only: bool = True,
                             *, sha256: str | None = None) -> dict:
    """Download a checkpoint once into ``model_dir`` and load it (``torch.hub.load_state_dict_from_url``).

    Args:
        url: an http(s) URL.
        model_dir: default ``<hub dir>/checkpoints``.
        map_location: passed to :func:`blaze.load`.
        progress: kept for torch.hub's signature; the download's tqdm bar shows only on a terminal.
        check_hash: verify the SHA-256 prefix in the file name (``name-<hex>.pth``) before keeping the file.
        file_name: save under this name instead of the URL's.
        sha256: a full digest to verify instead of the name's prefix (blaze's addition).

    Returns the state dict. Raises ``blaze.utils.download.ChecksumError`` (nothing is kept) on a mismatch.
    """
    from blaze.serialization import load
    from blaze.utils.download import ChecksumError, _hash_file, download_url

    model_dir = Path(model_dir if model_dir is not None else os.path.join(get_dir(), "checkpoints")).expanduser()
    name = file_name or os.path.basename(url.split("?", 1)[0])
    dest = model_dir / name
    prefix = None
    if check_hash and not sha256:
        m = _HASH_IN_NAME.search(name)
        prefix = m.group(1) if m else None
        if not prefix:
            raise ValueError(f"check_hash=True but {name!r} has no '-<sha256 prefix>.' in its name")
    if sha256:
        download_url(url, model_dir, name, sha256=sha256)
    elif not dest.is_file():  # a cached file was renamed in only after it passed the check (torch.hub trusts it too)
        part = download_url(url, model_dir, name + ".unverified")
        digest = _hash_file(part, "sha256")
        if prefix and not digest.startswith(prefix):
            part.unlink()
            raise ChecksumError(f"{name}: the download from {url} has SHA-256 {digest}, which does not start with "
                                f"{prefix!r} as its name says (nothing was kept in {model_dir})")
        os.replace(part, dest)
    return load(dest, map_location=map_location, weights_only=weights_only)


# ---- registry ------------------------------------------------------------------------------------

_BUILDERS: dict[str, Callable] = {}
_WEIGHTS_OF: dict[str, type] = {}


def register_model(name: str | None = None, weights_enum: type | None = None):
    """Decorator: record a builder under ``name`` (default its ``__name__``) with its weights enum."""
    def wrap(fn):
        key = name or fn.__name__
        if key in _BUILDERS:
            raise ValueError(f"An entry is already registered under the name '{key}'.")
        _BUILDERS[key] = fn
        if weights_enum is not None:
            _WEIGHTS_OF[key] = weights_enum
        return fn
    return wrap


def handle_legacy_interface(default_weights):
    """Accept the deprecated ``pretrained=True/False`` (torchvision <0.13) and map it onto ``weights=``."""
    def wrap(builder):
        @functools.wraps(builder)
        def inner(*, weights=None, **kwargs):
            if "pretrained" in kwargs:
                pretrained = kwargs.pop("pretrained")
                if weights is not None:
                    raise ValueError("give weights= or the deprecated pretrained=, not both")
                new = default_weights if pretrained else None
                warnings.warn(f"The parameter 'pretrained' is deprecated; use 'weights' instead "
                              f"(weights={new!r}).", UserWarning, stacklevel=2)
                weights = new
            return builder(weights=weights, **kwargs)
        return inner
    return wrap


def _ensure_registered() -> None:
    import blaze.vision.models  # noqa: F401  (importing the package registers every builder)


def list_models(module=None, include=None, exclude=None) -> list[str]:
    """Sorted names of the registered builders, filtered by fnmatch patterns (torchvision's ``list_models``)."""
    _ensure_registered()
    names = [n for n, fn in _BUILDERS.items()
             if module is None or fn.__module__.rsplit(".", 1)[0] == module.__name__
             or fn.__module__ == module.__name__]
    if include:
        pats = [include] if isinstance(include, str) else include
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in pats)]
    if exclude:
        pats = [exclude] if isinstance(exclude, str) else exclude
        names = [n for n in names if not any(fnmatch.fnmatch(n, p) for p in pats)]
    return sorted(names)


def get_model_builder(name: str) -> Callable:
    _ensure_registered()
    try:
        return _BUILDERS[name.lower()]
    except KeyError:
        raise ValueError(f"Unknown model {name}") from None


def get_model(name: str, **config):
    """Build a registered model by name: ``get_model("resnet18", weights="DEFAULT")``."""
    return get_model_builder(name)(**config)


def get_model_weights(name) -> type:
    """The weights enum of a builder (given by name or as the function)."""
    _ensure_registered()
    key = name if isinstance(name, str) else next((k for k, f in _BUILDERS.items() if f is name), None)
    if key not in _WEIGHTS_OF:
        raise ValueError(f"The model {name!r} has no registered weights enum.")
    return _WEIGHTS_OF[key]


def get_weight(name: str):
    """A weights member by its full name, e.g. ``"ResNet50_Weights.IMAGENET1K_V2"``."""
    try:
        enum_name, value_name = name.split(".")
    except ValueError:
        raise ValueError(f"Invalid weight name provided: '{name}'.") from None
    _ensure_registered()
    enum = next((e for e in _WEIGHTS_OF.values() if e.__name__ == enum_name), None)
    if enum is None:
        raise ValueError(f"The weight enum '{enum_name}' for the specific method couldn't be retrieved.")
    return enum.verify(value_name)


def _imagenet_meta(num_params: int, acc1: float, acc5: float, recipe: str, min_size=(1, 1), **extra) -> dict:
    return {"num_params": num_params, "num_categories": 1000, "min_size": min_size, "recipe": recipe,
            "_metrics": {"ImageNet-1K": {"acc@1": acc1, "acc@5": acc5}}, **extra}


def build_model(make: Callable, weights, progress: bool, **kwargs):
    """``make(**kwargs)``, its ``num_classes`` taken from ``weights`` and the weights loaded (strictly) into it."""
    if weights is not None and weights.meta["num_categories"] is not None:
        override_param(kwargs, "num_classes", weights.meta["num_categories"])
    model = make(**kwargs)
    if weights is not None:
        model.load_state_dict(weights.get_state_dict(progress=progress, check_hash=True))
    return model


def override_param(kwargs: dict, param: str, new_value) -> None:
    """Set ``kwargs[param]`` from the weights, refusing a conflicting value (torchvision's _ovewrite_named_param)."""
    if param in kwargs and kwargs[param] != new_value:
        raise ValueError(f"The parameter '{param}' expected value {new_value} but got {kwargs[param]} instead.")
    kwargs[param] = new_value
