"""A small U-Net (Ronneberger et al. 2015) for segmentation; torchvision has none, so this one is blaze's own.

Differences from the paper, chosen so the output is aligned with the input: padded 3x3 convs
(the paper's unpadded ones shrink 572 px to 388 px and need cropped skips) and BatchNorm after
each conv. Height and width must be divisible by 2**depth (16 for the default depth 4).
With ``base_channels=64, depth=4`` it is the paper's 31.0M-parameter network; the default 16
gives 1.9M. No pretrained weights exist for it.
"""
from __future__ import annotations

import blaze
from blaze import nn

from ._api import register_model

__all__ = ["UNet", "unet"]


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BatchNorm -> ReLU) twice; the convs have no bias because BatchNorm adds one."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True),
                         nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True))


class Up(nn.Module):
    """2x transposed conv (halving channels), concatenate the encoder's skip, then DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x, skip):
        return self.conv(blaze.cat([skip, self.up(x)], dim=1))  # (N, C/2 + C/2, H, W)


class UNet(nn.Module):
    """``(N, in_channels, H, W)`` -> ``(N, num_classes, H, W)`` per-pixel logits.

    Args:
        in_channels: image channels (3 for RGB).
        num_classes: output channels (1 for a binary mask with ``BCEWithLogitsLoss``).
        base_channels: channels of the first level; level i has ``base_channels * 2**i``.
        depth: number of 2x downsamplings.

    Example::

        model = UNet(in_channels=1, num_classes=2, base_channels=8, depth=2)
        logits = model(blaze.randn(4, 1, 32, 32))   # (4, 2, 32, 32)
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 1, base_channels: int = 16, depth: int = 4):
        super().__init__()
        if depth < 1 or base_channels < 1:
            raise ValueError(f"depth and base_channels must be positive, got depth={depth}, "
                             f"base_channels={base_channels}")
        self.depth = depth
        widths = [base_channels * 2 ** i for i in range(depth + 1)]
        self.inc = DoubleConv(in_channels, widths[0])
        self.pool = nn.MaxPool2d(2)
        self.downs = nn.ModuleList(DoubleConv(widths[i], widths[i + 1]) for i in range(depth))
        self.ups = nn.ModuleList(Up(widths[i + 1], widths[i]) for i in reversed(range(depth)))
        self.outc = nn.Conv2d(widths[0], num_classes, kernel_size=1)

    def forward(self, x):
        h, w = x.shape[-2:]
        m = 2 ** self.depth
        if h % m or w % m:
            raise ValueError(f"UNet with depth {self.depth} needs height and width divisible by {m}, got {h}x{w}")
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(self.pool(skips[-1])))
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.outc(x)


@register_model()
def unet(*, weights=None, progress: bool = True, **kwargs) -> UNet:
    """Build a :class:`UNet`; ``weights`` must be None (there are no pretrained U-Net weights)."""
    if weights is not None:
        raise ValueError("unet has no pretrained weights; pass weights=None")
    return UNet(**kwargs)
