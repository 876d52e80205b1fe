"""ViT-B/16 (Dosovitskiy et al. 2020): 16x16 patches -> 12 pre-norm encoder blocks -> class-token head.

Keys follow torchvision (``encoder.layers.encoder_layer_<i>.self_attention.in_proj_weight``,
``mlp.0`` / ``mlp.3``), so its checkpoints load unchanged. ``image_size`` fixes the number of
tokens, (image_size / 16)^2 + 1 = 197 at 224, because the learned position embedding has that length.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from functools import partial

import blaze
from blaze import nn

from ._api import (ImageClassification, Weights, WeightsEnum, _imagenet_meta, build_model, handle_legacy_interface,
                   override_param, register_model)

__all__ = ["VisionTransformer", "ViT_B_16_Weights", "vit_b_16"]


class MLPBlock(nn.Sequential):
    """Linear -> GELU -> Dropout -> Linear -> Dropout (indices 0..4, as torchvision's MLP)."""

    def __init__(self, in_dim: int, mlp_dim: int, dropout: float):
        super().__init__(nn.Linear(in_dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, in_dim),
                         nn.Dropout(dropout))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)


class EncoderBlock(nn.Module):
    def __init__(self, num_heads, hidden_dim, mlp_dim, dropout, attention_dropout,
                 norm_layer=partial(nn.LayerNorm, eps=1e-6)):
        super().__init__()
        self.num_heads = num_heads
        self.ln_1 = norm_layer(hidden_dim)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads, dropout=attention_dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = norm_layer(hidden_dim)
        self.mlp = MLPBlock(hidden_dim, mlp_dim, dropout)

    def forward(self, input):
        if input.ndim != 3:
            raise ValueError(f"Expected (batch_size, seq_length, hidden_dim) got {tuple(input.shape)}")
        x = self.ln_1(input)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = self.dropout(x) + input
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    def __init__(self, seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout, attention_dropout,
                 norm_layer=partial(nn.LayerNorm, eps=1e-6)):
        super().__init__()
        self.pos_embedding = nn.Parameter(blaze.empty(1, seq_length, hidden_dim))
        nn.init.normal_(self.pos_embedding, std=0.02)  # from BERT
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(OrderedDict(
            (f"encoder_layer_{i}", EncoderBlock(num_heads, hidden_dim, mlp_dim, dropout, attention_dropout, norm_layer))
            for i in range(num_layers)))
        self.ln = norm_layer(hidden_dim)

    def forward(self, input):
        if input.ndim != 3:
            raise ValueError(f"Expected (batch_size, seq_length, hidden_dim) got {tuple(input.shape)}")
        return self.ln(self.layers(self.dropout(input + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """``(N, 3, image_size, image_size)`` -> ``(N, num_classes)``.

    Example::

        model = VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64)
        logits = model(blaze.randn(1, 3, 32, 32))   # (1, 1000)
    """

    def __init__(self, image_size, patch_size, num_layers, num_heads, hidden_dim, mlp_dim, dropout=0.0,
                 attention_dropout=0.0, num_classes=1000, representation_size=None,
                 norm_layer=partial(nn.LayerNorm, eps=1e-6)):
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError("Input shape indivisible by patch size!")
        self.image_size, self.patch_size = image_size, patch_size
        self.hidden_dim, self.mlp_dim = hidden_dim, mlp_dim
        self.attention_dropout, self.dropout = attention_dropout, dropout
        self.num_classes, self.representation_size, self.norm_layer = num_classes, representation_size, norm_layer
        self.conv_proj = nn.Conv2d(3, hidden_dim, kernel_size=patch_size, stride=patch_size)
        self.seq_length = (image_size // patch_size) ** 2 + 1  # + the class token
        self.class_token = nn.Parameter(blaze.zeros(1, 1, hidden_dim))
        self.encoder = Encoder(self.seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout,
                               attention_dropout, norm_layer)
        heads = OrderedDict()
        if representation_size is None:
            heads["head"] = nn.Linear(hidden_dim, num_classes)
        else:
            heads["pre_logits"] = nn.Linear(hidden_dim, representation_size)
            heads["act"] = nn.Tanh()
            heads["head"] = nn.Linear(representation_size, num_classes)
        self.heads = nn.Sequential(heads)

        fan_in = 3 * patch_size * patch_size
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(self.conv_proj.bias)
        if representation_size is not None:
            nn.init.trunc_normal_(self.heads.pre_logits.weight, std=math.sqrt(1 / hidden_dim))
            nn.init.zeros_(self.heads.pre_logits.bias)
        nn.init.zeros_(self.heads.head.weight)
        nn.init.zeros_(self.heads.head.bias)

    def _process_input(self, x):
        n, _, h, w = x.shape
        if h != self.image_size or w != self.image_size:
            raise ValueError(f"Wrong image size! Expected {self.image_size}x{self.image_size} but got {h}x{w}!")
        x = self.conv_proj(x)  # (N, D, H/p, W/p)
        return x.reshape(n, self.hidden_dim, -1).permute(0, 2, 1)  # (N, H*W/p^2, D)

    def forward(self, x):
        x = self._process_input(x)
        x = blaze.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)  # (N, 1 + H*W/p^2, D)
        x = self.encoder(x)
        return self.heads(x[:, 0])  # the class token's output


_URL = "https://download.pytorch.org/models/"


class ViT_B_16_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(
        _URL + "vit_b_16-c867db91.pth", partial(ImageClassification, crop_size=224),
        _imagenet_meta(86567656, 81.072, 95.318,
                       "https://github.com/pytorch/vision/tree/main/references/classification#vit_b_16",
                       min_size=(224, 224)))
    IMAGENET1K_SWAG_E2E_V1 = Weights(
        _URL + "vit_b_16_swag-9ac1b537.pth",
        partial(ImageClassification, crop_size=384, resize_size=384, interpolation="bicubic"),
        _imagenet_meta(86859496, 85.304, 97.65, "https://github.com/facebookresearch/SWAG", min_size=(384, 384)))
    IMAGENET1K_SWAG_LINEAR_V1 = Weights(
        _URL + "vit_b_16_lc_swag-4e70ced5.pth",
        partial(ImageClassification, crop_size=224, resize_size=224, interpolation="bicubic"),
        _imagenet_meta(86567656, 81.886, 96.18, "https://github.com/pytorch/vision/pull/5793", min_size=(224, 224)))
    DEFAULT = IMAGENET1K_V1


@register_model(weights_enum=ViT_B_16_Weights)
@handle_legacy_interface(ViT_B_16_Weights.IMAGENET1K_V1)
def vit_b_16(*, weights=None, progress: bool = True, **kwargs) -> VisionTransformer:
    """ViT-B/16 (86.6M parameters at 224 px). ``weights``: a :class:`ViT_B_16_Weights`, its name, or None."""
    weights = ViT_B_16_Weights.verify(weights)
    if weights is not None:
        override_param(kwargs, "image_size", weights.meta["min_size"][0])
    kwargs.setdefault("image_size", 224)
    return build_model(partial(VisionTransformer, patch_size=16, num_layers=12, num_heads=12, hidden_dim=768,
                               mlp_dim=3072), weights, progress, **kwargs)
