"""PEP 562 lazy submodules: ``package.name`` imports ``package.name`` on first attribute access."""
import importlib


def lazy_submodules(package: str, names):
    """A module ``__getattr__`` that loads the submodules ``names`` of ``package`` on first use."""
    names = frozenset(names)

    def __getattr__(name):
        if name in names:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__
