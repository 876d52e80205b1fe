"""blaze.vision.models: torchvision's classification models with identical state-dict keys, plus a small UNet.

    from blaze.vision.models import resnet18, ResNet18_Weights, get_model, list_models
    model = resnet18(weights=ResNet18_Weights.DEFAULT)      # downloads once, verifies, loads
    model = get_model("mobilenet_v3_small", num_classes=10)  # random init

Weights files are PyTorch's own (``download.pytorch.org``), read by blaze's PyTorch-checkpoint
reader; see ``_api.py`` for the cache and the checksum rule.
"""
from ._api import (Weights, WeightsEnum, get_model, get_model_builder, get_model_weights, get_weight, list_models,
                   load_state_dict_from_url)
from .efficientnet import EfficientNet, EfficientNet_B0_Weights, efficientnet_b0
from .mobilenetv2 import MobileNet_V2_Weights, MobileNetV2, mobilenet_v2
from .mobilenetv3 import MobileNet_V3_Small_Weights, MobileNetV3, mobilenet_v3_small
from .resnet import ResNet, ResNet18_Weights, ResNet34_Weights, ResNet50_Weights, resnet18, resnet34, resnet50
from .unet import UNet, unet
from .vgg import VGG, VGG11_BN_Weights, VGG11_Weights, VGG16_BN_Weights, VGG16_Weights, vgg11, vgg11_bn, vgg16, vgg16_bn
from .vision_transformer import ViT_B_16_Weights, VisionTransformer, vit_b_16

__all__ = ["Weights", "WeightsEnum", "get_model", "get_model_builder", "get_model_weights", "get_weight",
           "list_models", "load_state_dict_from_url",
           "ResNet", "ResNet18_Weights", "ResNet34_Weights", "ResNet50_Weights", "resnet18", "resnet34", "resnet50",
           "VGG", "VGG11_Weights", "VGG11_BN_Weights", "VGG16_Weights", "VGG16_BN_Weights", "vgg11", "vgg11_bn",
           "vgg16", "vgg16_bn", "MobileNetV2", "MobileNet_V2_Weights", "mobilenet_v2", "MobileNetV3",
           "MobileNet_V3_Small_Weights", "mobilenet_v3_small", "EfficientNet", "EfficientNet_B0_Weights",
           "efficientnet_b0", "VisionTransformer", "ViT_B_16_Weights", "vit_b_16", "UNet", "unet"]
