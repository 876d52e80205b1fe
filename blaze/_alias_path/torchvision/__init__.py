"""Stand-in found on sys.path under the torch alias (see blaze/_alias_path/__init__.py): become blaze's module."""
import sys

from blaze import compat

if compat.target_name(__name__) is None:  # imported as blaze._alias_path.<name> (a package walker, say)
    raise ImportError(f"{__name__} only stands in for a torch name on sys.path; use blaze.compat.install()")
compat.install()
sys.modules[__name__] = compat.resolve(__name__)
