"""Small helpers that are not part of the tensor API (a text progress bar)."""
from .progress import ProgressBar, progress

__all__ = ["ProgressBar", "progress"]
