"""PyTorch's ``nn.modules.flatten`` path; blaze defines ``Flatten`` and ``Unflatten`` in ``container``."""
from .container import Flatten, Unflatten

__all__ = ["Flatten", "Unflatten"]
