"""The cpu device: NumPy primitives, the reference every cuda kernel is tested against."""
