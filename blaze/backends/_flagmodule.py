"""A module whose public attributes read and write fields of :mod:`blaze._flags`."""
from __future__ import annotations

import types

from .. import _flags


def flag_property(field: str, doc: str) -> property:
    def get(self):
        return getattr(_flags, field)

    def set_(self, value):
        setattr(_flags, field, bool(value))

    return property(get, set_, doc=doc)


def install(module_name: str, props: dict) -> None:
    """Give ``sys.modules[module_name]`` the properties in ``props`` (as PyTorch's CudnnModule)."""
    import sys
    mod = sys.modules[module_name]
    mod.__class__ = type(f"{mod.__name__.rsplit('.', 1)[-1]}_module", (types.ModuleType,), dict(props))
