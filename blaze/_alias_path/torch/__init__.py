"""Stand-in found on sys.path under the torch alias (see blaze/_alias_path/__init__.py): become blaze's module."""
import sys

from blaze import compat

compat.install()
sys.modules[__name__] = compat.resolve(__name__)
