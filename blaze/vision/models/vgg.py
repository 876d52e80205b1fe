"""VGG-11/16 with and without BatchNorm (Simonyan & Zisserman 2014), keys identical to torchvision's.

The classifier's first Linear holds 25088 x 4096 = 102.8M of VGG-16's 138.4M parameters; the
``AdaptiveAvgPool2d((7, 7))`` in front of it lets any input of 32 px or more reach it.
"""
from __future__ import annotations

from functools import partial

import blaze
from blaze import nn

from ._api import (ImageClassification, Weights, WeightsEnum, _imagenet_meta, build_model, handle_legacy_interface,
                   register_model)

__all__ = ["VGG", "VGG11_Weights", "VGG11_BN_Weights", "VGG16_Weights", "VGG16_BN_Weights", "vgg11", "vgg11_bn",
           "vgg16", "vgg16_bn"]

_CFGS = {  # output channels per 3x3 conv; "M" is a 2x2 max-pool
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """``features`` (convs) -> 7x7 average pool -> three Linear layers; ``(N, 3, H, W)`` -> ``(N, num_classes)``."""

    def __init__(self, features, num_classes: int = 1000, init_weights: bool = True, dropout: float = 0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes))
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = blaze.flatten(self.avgpool(self.features(x)), 1)  # (N, 512, 7, 7) -> (N, 25088)
        return self.classifier(x)


def make_layers(cfg, batch_norm: bool = False):
    layers, in_channels = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        conv = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
        layers += [conv, nn.BatchNorm2d(v), nn.ReLU(inplace=True)] if batch_norm else [conv, nn.ReLU(inplace=True)]
        in_channels = v
    return nn.Sequential(*layers)


def _vgg(cfg, batch_norm, weights, progress, **kwargs):
    if weights is not None:
        kwargs["init_weights"] = False  # every tensor is about to be overwritten: skip 138M random draws
    return build_model(partial(VGG, make_layers(_CFGS[cfg], batch_norm=batch_norm)), weights, progress, **kwargs)


_RECIPE = "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg"
_URL = "https://download.pytorch.org/models/"
_preset = partial(ImageClassification, crop_size=224)


class VGG11_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(_URL + "vgg11-8a719046.pth", _preset,
                            _imagenet_meta(132863336, 69.02, 88.628, _RECIPE, min_size=(32, 32)))
    DEFAULT = IMAGENET1K_V1


class VGG11_BN_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(_URL + "vgg11_bn-6002323d.pth", _preset,
                            _imagenet_meta(132868840, 70.37, 89.81, _RECIPE, min_size=(32, 32)))
    DEFAULT = IMAGENET1K_V1


class VGG16_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(_URL + "vgg16-397923af.pth", _preset,
                            _imagenet_meta(138357544, 71.592, 90.382, _RECIPE, min_size=(32, 32)))
    # SSD's backbone (amdegroot): BGR-ish mean, inputs in [0, 255] (std 1/255); no classifier categories
    IMAGENET1K_FEATURES = Weights(
        _URL + "vgg16_features-amdegroot-88682ab5.pth",
        partial(ImageClassification, crop_size=224, mean=(0.48235, 0.45882, 0.40784),
                std=(1.0 / 255.0, 1.0 / 255.0, 1.0 / 255.0)),
        {**_imagenet_meta(138357544, float("nan"), float("nan"), "https://github.com/amdegroot/ssd.pytorch#training-ssd",
                          min_size=(32, 32)), "num_categories": None})
    DEFAULT = IMAGENET1K_V1


class VGG16_BN_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(_URL + "vgg16_bn-6c64b313.pth", _preset,
                            _imagenet_meta(138365992, 73.36, 91.516, _RECIPE, min_size=(32, 32)))
    DEFAULT = IMAGENET1K_V1


@register_model(weights_enum=VGG11_Weights)
@handle_legacy_interface(VGG11_Weights.IMAGENET1K_V1)
def vgg11(*, weights=None, progress: bool = True, **kwargs) -> VGG:
    """VGG-11, configuration "A" (132.9M parameters)."""
    return _vgg("A", False, VGG11_Weights.verify(weights), progress, **kwargs)


@register_model(weights_enum=VGG11_BN_Weights)
@handle_legacy_interface(VGG11_BN_Weights.IMAGENET1K_V1)
def vgg11_bn(*, weights=None, progress: bool = True, **kwargs) -> VGG:
    """VGG-11 with BatchNorm after each conv (132.9M parameters)."""
    return _vgg("A", True, VGG11_BN_Weights.verify(weights), progress, **kwargs)


@register_model(weights_enum=VGG16_Weights)
@handle_legacy_interface(VGG16_Weights.IMAGENET1K_V1)
def vgg16(*, weights=None, progress: bool = True, **kwargs) -> VGG:
    """VGG-16, configuration "D" (138.4M parameters)."""
    return _vgg("D", False, VGG16_Weights.verify(weights), progress, **kwargs)


@register_model(weights_enum=VGG16_BN_Weights)
@handle_legacy_interface(VGG16_BN_Weights.IMAGENET1K_V1)
def vgg16_bn(*, weights=None, progress: bool = True, **kwargs) -> VGG:
    """VGG-16 with BatchNorm after each conv (138.4M parameters)."""
    return _vgg("D", True, VGG16_BN_Weights.verify(weights), progress, **kwargs)
