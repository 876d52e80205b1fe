"""PyTorch's ``nn.modules.utils`` helpers that model code imports: ``_single``, ``_pair``, ``_triple``, ``_quadruple``."""
import collections.abc
from itertools import repeat


def _ntuple(n: int, name: str = "parse"):
    def parse(x):
        if isinstance(x, collections.abc.Iterable):
            return tuple(x)
        return tuple(repeat(x, n))

    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")


def _reverse_repeat_tuple(t, n: int):
    """``(a, b)`` -> ``(b, b, a, a)`` for ``n=2``: conv padding per side in F.pad's last-dim-first order."""
    return tuple(x for x in reversed(t) for _ in range(n))


__all__ = []
