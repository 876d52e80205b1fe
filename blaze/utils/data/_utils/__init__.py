"""Internals PyTorch code sometimes imports by path: ``_utils.collate`` and ``_utils.worker``."""
from . import collate, worker

__all__ = ["collate", "worker"]
