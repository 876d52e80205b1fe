"""One deterministic value formula for every parameter and buffer, shared by blaze's tests and the
PyTorch-side generator (perf/make_model_fixtures.py), so outputs compare without any weight file.

A tensor named ``k`` of shape ``s`` gets ``u``, uniform on [-1, 1], from a 64-bit integer hash
(MurmurHash3's finaliser) of its flat index ``i`` plus a seed from ``k``: integer ops, so 138M values
take seconds (``frac(43758 sin(12.99 i))`` took 61 s), and no visible pattern (a plain ``sin(0.7 i)``
row correlates with its input: ResNet-34's logits reached 2.6e15). Scaled by role: weights by
sqrt(6 / fan_in) (He's variance 2 / fan_in; u^2 averages 1/3); norm weights 1 + 0.1 u; biases and
running means 0.05 u / 0.1 u; running variances in [1, 1.5]. NumPy only: both sides import it.
"""
import zlib

import numpy as np


def _uniform(name: str, n: int) -> np.ndarray:
    x = np.arange(n, dtype=np.uint64) + np.uint64(zlib.crc32(name.encode()) << 32)
    for shift, mult in ((33, 0xFF51AFD7ED558CCD), (33, 0xC4CEB9FE1A85EC53), (33, None)):
        x ^= x >> np.uint64(shift)
        if mult is not None:
            x *= np.uint64(mult)  # wraps modulo 2**64, as the hash intends
    return (x >> np.uint64(11)).astype(np.float64) * (2.0 / 2 ** 53) - 1.0  # top 53 bits -> [-1, 1)


def fill_value(name: str, shape) -> np.ndarray:
    shape = tuple(int(d) for d in shape)
    if name.endswith("num_batches_tracked"):
        return np.zeros(shape, np.int64)
    n = int(np.prod(shape))
    base = _uniform(name, n).reshape(shape)
    if name.endswith("running_var"):
        v = 1.25 + 0.25 * base
    elif name.endswith("running_mean"):
        v = 0.1 * base
    elif len(shape) == 1 and name.endswith("weight"):  # BatchNorm / LayerNorm scale
        v = 1.0 + 0.1 * base
    elif len(shape) == 1:
        v = 0.05 * base
    else:
        v = base * np.sqrt(6.0 / (n / shape[0]))
    return v.astype(np.float32)


def fill_state(shapes: dict) -> dict:
    """``{name: shape}`` -> ``{name: ndarray}``."""
    return {k: fill_value(k, s) for k, s in shapes.items()}


def fixed_input(shape) -> np.ndarray:
    n = int(np.prod(shape))
    return np.sin(0.37 * np.arange(n, dtype=np.float64)).reshape(shape).astype(np.float32)
