"""EfficientNet-B0 (Tan & Le 2019): MBConv blocks with squeeze-excitation, SiLU and stochastic depth.

Stochastic depth grows linearly over the 16 blocks, from 0 to 0.2 * 15/16 on the last one; it is
active only in training mode, so eval outputs are deterministic.
"""
from __future__ import annotations

import copy
import math
from functools import partial

import blaze
from blaze import nn

from ._api import (ImageClassification, Weights, WeightsEnum, _imagenet_meta, build_model, handle_legacy_interface,
                   register_model)
from ._utils import Conv2dNormActivation, SqueezeExcitation, StochasticDepth, _make_divisible, init_weights

__all__ = ["EfficientNet", "MBConvConfig", "EfficientNet_B0_Weights", "efficientnet_b0"]


class MBConvConfig:
    def __init__(self, expand_ratio, kernel, stride, input_channels, out_channels, num_layers, width_mult=1.0,
                 depth_mult=1.0, block=None):
        self.expand_ratio, self.kernel, self.stride = expand_ratio, kernel, stride
        self.input_channels = self.adjust_channels(input_channels, width_mult)
        self.out_channels = self.adjust_channels(out_channels, width_mult)
        self.num_layers = int(math.ceil(num_layers * depth_mult))
        self.block = block or MBConv

    @staticmethod
    def adjust_channels(channels, width_mult, min_value=None) -> int:
        return _make_divisible(channels * width_mult, 8, min_value)


class MBConv(nn.Module):
    """1x1 expand -> kxk depthwise -> squeeze-excitation -> 1x1 project; residual through stochastic depth."""

    def __init__(self, cnf, stochastic_depth_prob, norm_layer, se_layer=SqueezeExcitation):
        super().__init__()
        if not 1 <= cnf.stride <= 2:
            raise ValueError("illegal stride value")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        expanded = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        layers = []
        if expanded != cnf.input_channels:
            layers.append(Conv2dNormActivation(cnf.input_channels, expanded, kernel_size=1, norm_layer=norm_layer,
                                               activation_layer=nn.SiLU))
        layers += [
            Conv2dNormActivation(expanded, expanded, kernel_size=cnf.kernel, stride=cnf.stride, groups=expanded,
                                 norm_layer=norm_layer, activation_layer=nn.SiLU),
            se_layer(expanded, max(1, cnf.input_channels // 4), activation=partial(nn.SiLU, inplace=True)),
            Conv2dNormActivation(expanded, cnf.out_channels, kernel_size=1, norm_layer=norm_layer,
                                 activation_layer=None)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.out_channels = cnf.out_channels

    def forward(self, input):
        result = self.block(input)
        return self.stochastic_depth(result) + input if self.use_res_connect else result


class EfficientNet(nn.Module):
    """``(N, 3, H, W)`` -> ``(N, num_classes)`` from a list of :class:`MBConvConfig` stages."""

    def __init__(self, inverted_residual_setting, dropout, stochastic_depth_prob=0.2, num_classes=1000,
                 norm_layer=None, last_channel=None):
        super().__init__()
        if not inverted_residual_setting:
            raise ValueError("The inverted_residual_setting should not be empty")
        if not all(isinstance(s, MBConvConfig) for s in inverted_residual_setting):
            raise TypeError("The inverted_residual_setting should be List[MBConvConfig]")
        norm_layer = norm_layer or nn.BatchNorm2d
        layers = [Conv2dNormActivation(3, inverted_residual_setting[0].input_channels, kernel_size=3, stride=2,
                                       norm_layer=norm_layer, activation_layer=nn.SiLU)]
        total_blocks = sum(cnf.num_layers for cnf in inverted_residual_setting)
        block_id = 0
        for cnf in inverted_residual_setting:
            stage = []
            for _ in range(cnf.num_layers):
                block_cnf = copy.copy(cnf)
                if stage:
                    block_cnf.input_channels, block_cnf.stride = block_cnf.out_channels, 1
                stage.append(block_cnf.block(block_cnf, stochastic_depth_prob * block_id / total_blocks, norm_layer))
                block_id += 1
            layers.append(nn.Sequential(*stage))
        last_in = inverted_residual_setting[-1].out_channels
        last_out = last_channel if last_channel is not None else 4 * last_in
        layers.append(Conv2dNormActivation(last_in, last_out, kernel_size=1, norm_layer=norm_layer,
                                           activation_layer=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Linear(last_out, num_classes))
        init_weights(self, linear=_uniform_by_fan_out)

    def forward(self, x):
        x = blaze.flatten(self.avgpool(self.features(x)), 1)  # (N, 1280, 1, 1) -> (N, 1280)
        return self.classifier(x)


def _uniform_by_fan_out(w) -> None:
    bound = 1.0 / math.sqrt(w.shape[0])
    nn.init.uniform_(w, -bound, bound)


def _b_conf(width_mult: float, depth_mult: float):
    c = partial(MBConvConfig, width_mult=width_mult, depth_mult=depth_mult)
    # expand ratio, kernel, stride, in, out, layers (the B0 baseline of the paper's Table 1)
    return [c(1, 3, 1, 32, 16, 1), c(6, 3, 2, 16, 24, 2), c(6, 5, 2, 24, 40, 2), c(6, 3, 2, 40, 80, 3),
            c(6, 5, 1, 80, 112, 3), c(6, 5, 2, 112, 192, 4), c(6, 3, 1, 192, 320, 1)]


class EfficientNet_B0_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(
        # ported from Ross Wightman's timm weights
        "https://download.pytorch.org/models/efficientnet_b0_rwightman-7f5810bc.pth",
        partial(ImageClassification, crop_size=224, resize_size=256, interpolation="bicubic"),
        _imagenet_meta(5288548, 77.692, 93.532,
                       "https://github.com/pytorch/vision/tree/main/references/classification#efficientnet-v1"))
    DEFAULT = IMAGENET1K_V1


@register_model(weights_enum=EfficientNet_B0_Weights)
@handle_legacy_interface(EfficientNet_B0_Weights.IMAGENET1K_V1)
def efficientnet_b0(*, weights=None, progress: bool = True, **kwargs) -> EfficientNet:
    """EfficientNet-B0 (5.3M parameters). ``weights``: an :class:`EfficientNet_B0_Weights`, its name, or None."""
    return build_model(partial(EfficientNet, _b_conf(1.0, 1.0), kwargs.pop("dropout", 0.2)),
                       EfficientNet_B0_Weights.verify(weights), progress, **kwargs)
