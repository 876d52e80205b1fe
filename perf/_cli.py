"""What the host benchmarks' ``main()`` functions share: write the rows as JSON, fail past a bound."""
from __future__ import annotations

import json
import sys


def write_json(rows, path, indent: int = 1) -> None:
    """Write ``rows`` to ``path`` as JSON; nothing when no path was given."""
    if path:
        with open(path, "w") as f:
            json.dump(rows, f, indent=indent)


def over_bound(label: str, value: float, limit: float | None) -> int:
    """Exit status of a ``--check`` guard: 1 (with a line on stderr) when ``value`` exceeds ``limit``."""
    if limit is not None and value > limit:
        print(f"{label}: {value} µs > {limit} µs", file=sys.stderr)
        return 1
    return 0
