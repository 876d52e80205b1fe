"""``blaze.device``: where a tensor's memory lives and which backend computes on it."""
from __future__ import annotations


class device:
    """A device: ``blaze.device("cpu")``, ``blaze.device("cuda")``, ``blaze.device("cuda", 0)``."""

    __slots__ = ("type", "index", "_backend")

    def __new__(cls, type_or_str, index: int | None = None):
        if isinstance(type_or_str, device):
            return type_or_str
        if not isinstance(type_or_str, str):
            raise TypeError(f"device() expects a string like 'cpu' or 'cuda:0', got {type_or_str!r}")
        s = type_or_str.strip()
        if ":" in s:
            s, _, idx = s.partition(":")
            if not idx.isdigit() or index is not None:
                raise RuntimeError(f"Invalid device string: '{type_or_str}'")
            index = int(idx)
        if s not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type_or_str}")
        if s == "cuda" and index is None:
            index = 0
        key = (s, index)
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        self = object.__new__(cls)
        object.__setattr__(self, "type", s)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "_backend", None)
        _CACHE[key] = self
        return self

    def __repr__(self) -> str:
        return f"device(type='{self.type}')" if self.index is None else \
            f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))

    @property
    def backend(self):
        """The backend object holding this device's primitives (loaded on first use, then cached)."""
        be = self._backend
        if be is None:
            from .devices import get_backend
            be = get_backend(self)
            object.__setattr__(self, "_backend", be)
        return be


_CACHE: dict = {}
CPU = device("cpu")


# torch.set_default_device: where factory functions put a tensor when no device is named
DEFAULT = [CPU]


def to_device(d) -> device:
    if d is None:
        return DEFAULT[0]
    if isinstance(d, int):
        return device("cuda", d)
    return device(d)
