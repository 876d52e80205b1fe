"""Which classes a checkpoint may name, and how a whole object is taken apart and rebuilt.

A whole object (a Module, an optimizer, a scheduler, an allow-listed user class) is stored as
data: its class's import path (``"blaze.nn.modules.linear.Linear"``) and its ``__dict__`` (or
the dict its class's own ``__getstate__`` returns, as pickle would take), whose values are
stored like any other part of the tree (tensors as raw bytes, submodules as objects). Loading
allocates the instance with ``cls.__new__(cls)`` and fills its ``__dict__``, exactly as
``pickle`` does for a plain class: no ``__init__``, no ``__reduce__``, nothing the file names
is called. (In a .pt file, pickle's BUILD calls the class's own ``__setstate__`` if it has
one, as ``torch.load`` does: blaze's are plain dict updates; an allow-listed class's is code
the user vouched for.) Tensor classes are never rebuilt this way: tensors come only from the
rebuild functions, which check their bounds.

Which classes a file may name (PyTorch's ``weights_only`` semantics, with one difference:
even ``weights_only=False`` never imports a module a file names, other than blaze's own):

    weights_only=True   only classes allow-listed with :func:`add_safe_globals` / :func:`safe_globals`
    weights_only=False  also blaze's own classes (``blaze.*``) and subclasses of blaze's
                        ``nn.Module`` / ``optim.Optimizer`` / ``LRScheduler`` already imported by
                        the program (a user's ``class Net(nn.Module)``); functions only if they
                        are blaze's own (``F.relu`` held by a layer) or allow-listed

Anything else raises :class:`pickle.UnpicklingError` naming the class and how to allow it.
"""
from __future__ import annotations

import importlib
import pickle
import sys
import types

__all__ = ["add_safe_globals", "get_safe_globals", "clear_safe_globals", "safe_globals"]

# "module.qualname" -> the object; user allow-list, process-wide like PyTorch's
_USER_SAFE: dict[str, object] = {}
# identifiers only: a path from a file is never eval'd, but it is split and looked up
_PART_OK = str.isidentifier


def _path(obj) -> str:
    return f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', None)}"


def add_safe_globals(safe_globals: list) -> None:
    """Allow-list classes / functions for ``blaze.load`` (PyTorch's ``add_safe_globals``).

    Args:
        safe_globals: classes or functions, or ``(obj, "module.name")`` pairs naming the path a
            file uses for ``obj``.

    Example::

        blaze.serialization.add_safe_globals([Net])
        model = blaze.load("best.pt")
    """
    if not isinstance(safe_globals, (list, tuple)):
        raise TypeError(f"add_safe_globals expects a list, got {type(safe_globals).__name__}")
    new = {}
    for g in safe_globals:
        if isinstance(g, tuple):
            if len(g) != 2 or not isinstance(g[1], str):
                raise TypeError(f"expected (obj, 'module.name') pairs, got {g!r}")
            new[g[1]] = g[0]
        elif isinstance(g, (type, types.FunctionType, types.BuiltinFunctionType)):
            new[_path(g)] = g
        else:
            raise TypeError(f"add_safe_globals: {g!r} is not a class or function")
    _USER_SAFE.update(new)


def get_safe_globals() -> list:
    """The user allow-list, as ``add_safe_globals`` received it (pairs where a path was given)."""
    return [v if _path(v) == k else (v, k) for k, v in _USER_SAFE.items()]


def clear_safe_globals() -> None:
    """Empty the user allow-list."""
    _USER_SAFE.clear()


class safe_globals:
    """Context manager allow-listing ``globals`` for the ``with`` block only (PyTorch's ``safe_globals``).

    Example::

        with blaze.serialization.safe_globals([Net]):
            model = blaze.load("best.pt")
    """

    def __init__(self, safe_globals: list):
        self.safe_globals = safe_globals

    def __enter__(self):
        self._saved = dict(_USER_SAFE)
        add_safe_globals(self.safe_globals)

    def __exit__(self, *exc):
        _USER_SAFE.clear()
        _USER_SAFE.update(self._saved)
        return False


# ------------------------------------------------------------------------------- refusal
_NOT_EVEN_FALSE = ("with weights_only=False either (that adds only blaze's own classes and functions and your "
                   "subclasses of its Module / Optimizer / LRScheduler; no module a file names is imported)")


def refuse(path: str, weights_only: bool, what: str = "global") -> pickle.UnpicklingError:
    name = path.rsplit(".", 1)[-1]
    hint = (f"Please use `blaze.serialization.add_safe_globals([{name}])` or the "
            f"`blaze.serialization.safe_globals([{name}])` context manager to allowlist this global "
            "if you trust this class/function.")
    if weights_only:
        hint += (" Whole blaze objects (a Module, an optimizer, a scheduler, or your nn.Module "
                 "subclass) also load with `weights_only=False`.")
    return pickle.UnpicklingError(
        f"Weights only load failed: Unsupported global: GLOBAL {path} was not an allowed global "
        f"{'by default' if weights_only else _NOT_EVEN_FALSE}. "
        f"{hint} Nothing from the file was run.")


# ------------------------------------------------------------------------------- resolution
def _lookup(module: str, qualname: str, may_import: bool):
    mod = sys.modules.get(module)
    if mod is None and may_import:
        mod = importlib.import_module(module)
    obj = mod
    for part in qualname.split("."):
        obj = getattr(obj, part, None) if obj is not None else None
    return obj


def _split(path: str):
    """("module", "qualname") for the longest imported-or-blaze module prefix of ``path``."""
    parts = path.split(".")
    # no dunder lookups ("blaze.nn.__class__"), but a script's own classes live in __main__
    dunder = [p for p in parts if p.startswith("__") and p.endswith("__")]
    if not all(map(_PART_OK, parts)) or len(parts) < 2 or dunder not in ([], ["__main__"]) or \
            (dunder and parts[0] != "__main__"):
        return None
    for i in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:i])
        if module in sys.modules or (parts[0] == "blaze" and _is_blaze_module(module)):
            return module, ".".join(parts[i:])
    return None


def _is_blaze_module(module: str) -> bool:
    try:
        importlib.import_module(module)  # blaze's own code: safe to import
        return True
    except ImportError:
        return False


def _blaze_bases():
    from ..nn.modules.module import Module
    from ..optim.optimizer import Optimizer
    from ..optim.lr_scheduler import LRScheduler
    return (Module, Optimizer, LRScheduler)


def resolve(path: str, weights_only: bool, want_class: bool = True):
    """The class (or function) ``path`` names, if the policy above allows it; else UnpicklingError."""
    if not isinstance(path, str):
        raise pickle.UnpicklingError(f"a class path must be a string, got {type(path).__name__}")
    if path in _USER_SAFE:
        return _USER_SAFE[path]
    if not weights_only:
        found = _split(path)
        if found is not None:
            module, qualname = found
            obj = _lookup(module, qualname, may_import=module.split(".")[0] == "blaze")
            # only an object known by exactly this path: no "blaze.nn.__class__", no re-exported foreign class
            own = module.split(".")[0] == "blaze" and str(getattr(obj, "__module__", "")).split(".")[0] == "blaze"
            if obj is None or _path(obj) != path:
                raise refuse(path, weights_only, "class" if want_class else "function")
            from .._tensor import Tensor
            if isinstance(obj, type) and issubclass(obj, Tensor):
                pass  # tensors come only from the tensor rebuild functions, which check their bounds
            elif want_class and isinstance(obj, type) and (own or issubclass(obj, _blaze_bases())):
                return obj
            elif not want_class and own and isinstance(obj, types.FunctionType):
                return obj
    raise refuse(path, weights_only, "class" if want_class else "function")


def fill(obj, state):
    """Give an allocated ``obj`` (``cls.__new__(cls)``) ``state`` as its ``__dict__``, as pickle does."""
    if not isinstance(state, dict) or not all(type(k) is str for k in state):
        raise pickle.UnpicklingError(f"the state of a {type(obj).__qualname__} must be a dict with str keys")
    obj.__dict__.update(state)
    return obj


# ------------------------------------------------------------------------------- saving
def is_function_ref(obj) -> bool:
    return isinstance(obj, (types.FunctionType, types.BuiltinFunctionType))


def function_path(obj, where: str) -> str:
    path = _path(obj)
    if "<" in path or not (path.startswith("blaze.") or path in _USER_SAFE):
        raise TypeError(f"blaze.save: cannot save the function {path} (at {where}): checkpoints store data, "
                        "not code; only blaze's own functions (such as F.relu) and allow-listed ones are "
                        "stored, by name")
    return path


def object_state(obj, where: str) -> tuple[str, dict]:
    """(class path, ``__dict__``) of a whole object, or TypeError saying why it cannot be saved."""
    cls = type(obj)
    path = _path(cls)
    if isinstance(obj, (type, types.ModuleType)) or callable(obj) and not hasattr(obj, "__dict__"):
        raise TypeError(f"blaze.save: cannot save {obj!r} (at {where}): checkpoints store data, not code")
    if "<locals>" in cls.__qualname__:
        raise TypeError(f"blaze.save: cannot save an instance of {path} (at {where}): a class defined inside "
                        "a function cannot be found again by its name")
    if not hasattr(obj, "__dict__") or getattr(cls, "__slots__", ()):
        raise TypeError(f"blaze.save: cannot save an object of type {cls.__name__} (at {where}): "
                        "only objects whose state is their __dict__ are stored")
    getstate = getattr(cls, "__getstate__", None)
    if getstate is not None and getstate is not getattr(object, "__getstate__", None):
        state = obj.__getstate__()  # the class's own choice of what to keep (Optimizer drops its hooks)
        if not isinstance(state, dict):
            raise TypeError(f"blaze.save: {path}.__getstate__ returned a {type(state).__name__} (at {where}); "
                            "only a dict (the attributes to restore) can be stored")
        return path, state
    return path, obj.__dict__
