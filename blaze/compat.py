"""The torch alias: run an unmodified PyTorch program on blaze.

``install()`` puts an import hook first on ``sys.meta_path`` that answers every import of
``torch`` or ``torch.X`` with the module ``blaze`` / ``blaze.X``, and ``torchvision.X``
with ``blaze.vision.X``: the *same* module objects, so ``torch.nn is blaze.nn`` and
``isinstance(x, torch.Tensor)`` holds for blaze tensors. Nothing is copied, wrapped or
patched; a name blaze lacks fails as it would in blaze (``ModuleNotFoundError`` naming both
the torch name and the blaze module it maps to). It also puts ``blaze/_alias_path`` on
``sys.path``, so processes that multiprocessing spawns get the alias too.

From a shell::

    python -m blaze.run train.py --epochs 2      # or: blaze torch train.py --epochs 2

In a notebook, before the first ``import torch``::

    import blaze.compat; blaze.compat.install()
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import runpy
import sys

ALIASES = {"torch": "blaze", "torchvision": "blaze.vision"}
_PATH_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_alias_path")


def target_name(fullname: str) -> str | None:
    """The blaze module that ``fullname`` (``torch.nn.functional``) stands for, or None if it is no alias."""
    head, dot, rest = fullname.partition(".")
    base = ALIASES.get(head)
    return None if base is None else base + dot + rest


def resolve(fullname: str):
    """Import and return the blaze module behind the torch name ``fullname``."""
    target = target_name(fullname)
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as e:
        if e.name is not None and (target == e.name or target.startswith(e.name + ".")):
            raise ModuleNotFoundError(f"No module named {fullname!r} (blaze's torch alias maps it to {target!r}, "
                                      "which does not exist)", name=fullname) from None
        raise


class _AliasLoader(importlib.abc.Loader):
    def __init__(self):
        self._specs = {}

    def create_module(self, spec):
        module = resolve(spec.name)
        self._specs[id(module)] = module.__spec__
        return module

    def exec_module(self, module):
        # the import system set the alias's spec on the module; blaze's own must stay (reload, pickling by name)
        module.__spec__ = self._specs.pop(id(module))


class _AliasFinder(importlib.abc.MetaPathFinder):
    def __init__(self):
        self.loader = _AliasLoader()

    def find_spec(self, fullname, path=None, target=None):
        if target_name(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self.loader)


_FINDER = _AliasFinder()


def is_installed() -> bool:
    return _FINDER in sys.meta_path


def install() -> None:
    """Make ``import torch`` / ``torchvision`` (and their submodules) import blaze from now on, in this process
    and in the processes it spawns. Idempotent; refuses if the real torch is already imported."""
    for name in ALIASES:
        mod = sys.modules.get(name)
        ours = getattr(mod, "__name__", "").startswith("blaze") or \
            str(getattr(mod, "__file__", "")).startswith(_PATH_DIR)  # the stand-in, replacing itself
        if mod is not None and not ours:
            raise RuntimeError(f"{name} is already imported (from {getattr(mod, '__file__', '?')}); install the "
                               "blaze alias before the first import of torch")
    if not is_installed():
        sys.meta_path.insert(0, _FINDER)
    if _PATH_DIR not in sys.path:
        sys.path.insert(0, _PATH_DIR)


def uninstall() -> None:
    """Remove the alias: the hook, the ``sys.path`` entry and every ``torch*`` name it put in ``sys.modules``."""
    if is_installed():
        sys.meta_path.remove(_FINDER)
    while _PATH_DIR in sys.path:
        sys.path.remove(_PATH_DIR)
    for name in [n for n in sys.modules if target_name(n) is not None]:
        if getattr(sys.modules[name], "__name__", "").startswith("blaze"):
            del sys.modules[name]


_USAGE = """usage: python -m blaze.run script.py [args ...]
       python -m blaze.run -m module [args ...]

Run a PyTorch program unchanged on blaze: `import torch` gives blaze, `torch.X` gives
blaze.X and `torchvision.X` gives blaze.vision.X (see blaze/compat.py)."""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_USAGE)
        return 0 if argv else 2
    if argv[0] == "-m":
        if len(argv) < 2:
            print(_USAGE, file=sys.stderr)
            return 2
        install()
        sys.argv = [argv[1]] + argv[2:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    if not os.path.isfile(script):
        print(f"blaze.run: can't open file {script!r}: no such file", file=sys.stderr)
        return 2
    install()
    sys.argv = argv
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
    return 0


__all__ = ["install", "uninstall", "is_installed", "resolve", "target_name", "main"]
