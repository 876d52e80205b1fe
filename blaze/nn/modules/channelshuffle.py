"""ChannelShuffle: ShuffleNet's channel interleave (a wrapper of F.channel_shuffle)."""
from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["ChannelShuffle"]


class ChannelShuffle(Module):
    """(N, g*k, *) -> channels regrouped k-major, as ``torch.nn.ChannelShuffle``."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
