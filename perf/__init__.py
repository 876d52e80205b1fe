"""blaze's perf regression suite: op and model-step cases, JSON results, compare, plots.

    python -m perf run [--device cpu|cuda] [--filter TEXT] [--quick] [--out FILE]
    python -m perf compare BASE NEW [--tolerance T]
    python -m perf report FILE [--out DIR]

PyTorch is timed side by side when it is importable; it is never required.
"""
