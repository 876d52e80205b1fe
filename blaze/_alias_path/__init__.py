"""A directory ``blaze.compat`` puts on ``sys.path`` so that *child* processes resolve ``import torch`` to blaze.

``blaze.compat.install()`` aliases ``torch`` in the process that calls it. A process that
multiprocessing *spawns* starts fresh and re-imports the main script before anything
else, so it meets ``import torch`` with no alias installed; it inherits ``sys.path``,
though, and finds the ``torch`` / ``torchvision`` packages here, which install the alias
and then stand aside for blaze. Nothing here is ever imported as ``blaze._alias_path.*``.
"""
