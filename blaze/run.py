"""``python -m blaze.run script.py [args]``: run a PyTorch program unchanged, ``torch`` aliased to blaze (blaze.compat)."""
import sys

from .compat import main

if __name__ == "__main__":
    sys.exit(main())
