"""MobileNetV3-Small (Howard et al. 2019): inverted residuals with squeeze-excitation and hard-swish."""
from __future__ import annotations

from functools import partial

import blaze
from blaze import nn

from ._api import (ImageClassification, Weights, WeightsEnum, _imagenet_meta, build_model, handle_legacy_interface,
                   register_model)
from ._utils import Conv2dNormActivation, SqueezeExcitation, _make_divisible, init_weights

__all__ = ["MobileNetV3", "MobileNet_V3_Small_Weights", "mobilenet_v3_small"]


class InvertedResidualConfig:
    def __init__(self, input_channels, kernel, expanded_channels, out_channels, use_se, activation, stride, dilation,
                 width_mult):
        self.input_channels = self.adjust_channels(input_channels, width_mult)
        self.kernel = kernel
        self.expanded_channels = self.adjust_channels(expanded_channels, width_mult)
        self.out_channels = self.adjust_channels(out_channels, width_mult)
        self.use_se = use_se
        self.use_hs = activation == "HS"
        self.stride, self.dilation = stride, dilation

    @staticmethod
    def adjust_channels(channels: int, width_mult: float) -> int:
        return _make_divisible(channels * width_mult, 8)


class InvertedResidual(nn.Module):
    def __init__(self, cnf, norm_layer, se_layer=partial(SqueezeExcitation, scale_activation=nn.Hardsigmoid)):
        super().__init__()
        if not 1 <= cnf.stride <= 2:
            raise ValueError("illegal stride value")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        act = nn.Hardswish if cnf.use_hs else nn.ReLU
        layers = []
        if cnf.expanded_channels != cnf.input_channels:
            layers.append(Conv2dNormActivation(cnf.input_channels, cnf.expanded_channels, kernel_size=1,
                                               norm_layer=norm_layer, activation_layer=act))
        layers.append(Conv2dNormActivation(cnf.expanded_channels, cnf.expanded_channels, kernel_size=cnf.kernel,
                                           stride=1 if cnf.dilation > 1 else cnf.stride, dilation=cnf.dilation,
                                           groups=cnf.expanded_channels, norm_layer=norm_layer, activation_layer=act))
        if cnf.use_se:
            layers.append(se_layer(cnf.expanded_channels, _make_divisible(cnf.expanded_channels // 4, 8)))
        layers.append(Conv2dNormActivation(cnf.expanded_channels, cnf.out_channels, kernel_size=1,
                                           norm_layer=norm_layer, activation_layer=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = cnf.out_channels

    def forward(self, input):
        result = self.block(input)
        return result + input if self.use_res_connect else result


class MobileNetV3(nn.Module):
    """``(N, 3, H, W)`` -> ``(N, num_classes)`` from a list of :class:`InvertedResidualConfig`."""

    def __init__(self, inverted_residual_setting, last_channel, num_classes=1000, block=None, norm_layer=None,
                 dropout=0.2, **kwargs):
        super().__init__()
        if not inverted_residual_setting:
            raise ValueError("The inverted_residual_setting should not be empty")
        if not all(isinstance(s, InvertedResidualConfig) for s in inverted_residual_setting):
            raise TypeError("The inverted_residual_setting should be List[InvertedResidualConfig]")
        block = block or InvertedResidual
        # TF's BatchNorm defaults, which the reference weights were trained with
        norm_layer = norm_layer or partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        first = inverted_residual_setting[0].input_channels
        layers = [Conv2dNormActivation(3, first, kernel_size=3, stride=2, norm_layer=norm_layer,
                                       activation_layer=nn.Hardswish)]
        layers += [block(cnf, norm_layer) for cnf in inverted_residual_setting]
        last_in = inverted_residual_setting[-1].out_channels
        layers.append(Conv2dNormActivation(last_in, 6 * last_in, kernel_size=1, norm_layer=norm_layer,
                                           activation_layer=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(6 * last_in, last_channel), nn.Hardswish(inplace=True),
                                        nn.Dropout(p=dropout, inplace=True), nn.Linear(last_channel, num_classes))
        init_weights(self)

    def forward(self, x):
        x = blaze.flatten(self.avgpool(self.features(x)), 1)  # (N, 576, 1, 1) -> (N, 576)
        return self.classifier(x)


def _mobilenet_v3_small_conf(width_mult=1.0, reduced_tail=False, dilated=False):
    rd, dil = (2 if reduced_tail else 1), (2 if dilated else 1)
    c = partial(InvertedResidualConfig, width_mult=width_mult)
    setting = [  # in, kernel, expanded, out, SE, activation, stride, dilation
        c(16, 3, 16, 16, True, "RE", 2, 1), c(16, 3, 72, 24, False, "RE", 2, 1), c(24, 3, 88, 24, False, "RE", 1, 1),
        c(24, 5, 96, 40, True, "HS", 2, 1), c(40, 5, 240, 40, True, "HS", 1, 1), c(40, 5, 240, 40, True, "HS", 1, 1),
        c(40, 5, 120, 48, True, "HS", 1, 1), c(48, 5, 144, 48, True, "HS", 1, 1),
        c(48, 5, 288, 96 // rd, True, "HS", 2, dil), c(96 // rd, 5, 576 // rd, 96 // rd, True, "HS", 1, dil),
        c(96 // rd, 5, 576 // rd, 96 // rd, True, "HS", 1, dil)]
    return setting, InvertedResidualConfig.adjust_channels(1024 // rd, width_mult)


class MobileNet_V3_Small_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(
        "https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth",
        partial(ImageClassification, crop_size=224),
        _imagenet_meta(2542856, 67.668, 87.402,
                       "https://github.com/pytorch/vision/tree/main/references/classification#mobilenetv3-large--small"))
    DEFAULT = IMAGENET1K_V1


@register_model(weights_enum=MobileNet_V3_Small_Weights)
@handle_legacy_interface(MobileNet_V3_Small_Weights.IMAGENET1K_V1)
def mobilenet_v3_small(*, weights=None, progress: bool = True, **kwargs) -> MobileNetV3:
    """MobileNetV3-Small (2.5M parameters). ``weights``: a :class:`MobileNet_V3_Small_Weights`, its name, or None."""
    weights = MobileNet_V3_Small_Weights.verify(weights)
    setting, last_channel = _mobilenet_v3_small_conf(
        **{k: kwargs.pop(k) for k in ("width_mult", "reduced_tail", "dilated") if k in kwargs})
    return build_model(partial(MobileNetV3, setting, last_channel), weights, progress, **kwargs)
