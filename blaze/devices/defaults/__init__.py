"""Defaults of the optional primitive groups, written once over the core tier.

``Backend`` (blaze/devices/interface.py) inherits them: a device that implements only the
core tier runs every layer through these compositions; a device that brings a fused version
of a group overrides its methods (and ``supports(group)`` then says so). One module per group,
with the cpu device's names, arguments and results.
"""
from __future__ import annotations

from .attention import AttentionDefaults
from .conv import ConvDefaults
from .derived import DerivedDefaults
from .fused import FusedDefaults
from .nn import NNDefaults
from .optim import OptimDefaults
from .rnn import RNNDefaults
from .vision import VisionDefaults


class GroupDefaults(DerivedDefaults, NNDefaults, FusedDefaults, ConvDefaults, AttentionDefaults, RNNDefaults,
                    OptimDefaults, VisionDefaults):
    """Every optional group's default, composed from the core primitives."""


__all__ = ["GroupDefaults"]
