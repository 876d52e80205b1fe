"""The cuda device: Triton primitives over the device memory layer (``memory.py``)."""
