"""blaze: a deep-learning framework with PyTorch's API. NumPy on the CPU, Triton kernels on the GPU.

``import blaze`` loads only NumPy-backed code: no Triton import, no device query, no output.
"""
from . import dtypes as _dtypes
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from .device import device  # noqa: F401
from .dtypes import (bfloat16, dtype, float16, float32, float64, get_default_dtype, int8, int16,  # noqa: F401
                     int32, int64, promote_types, set_default_dtype, uint8)
from .random import Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, \
    set_rng_state  # noqa: F401
from ._tensor import Size, Tensor  # noqa: F401
from . import ops as _ops  # binds Tensor methods
from .ops.creation import (arange, as_tensor, asarray, bernoulli, empty, empty_like, eye, from_numpy, full,  # noqa
                           full_like, linspace, logspace, normal, ones, ones_like, poisson, rand, rand_like, randint,
                           randint_like, randn, randn_like, randperm, tensor, zeros, zeros_like)
from .ops.indexing import (argsort, argwhere, bucketize, gather, index_add, index_fill, index_put,  # noqa: F401
                           index_select, kthvalue, masked_fill, masked_select, msort, multinomial, nonzero, scatter,
                           scatter_add, scatter_reduce, searchsorted, sort, take_along_dim, topk)
from .ops.linalg import (addbmm, addmm, addmv, addr, baddbmm, bmm, dot, einsum, ger, inner, matmul, mm, mv,  # noqa
                         outer, tensordot)
from .ops.pointwise import *  # noqa: F401,F403
from .ops.special import *  # noqa: F401,F403
from .ops.pointwise import (abs, add, allclose, clamp, clip, div, equal, isclose,  # noqa
                            maximum, minimum, mul, pow, round, sub, where)
from .ops.reduction import (all, amax, amin, aminmax, any, argmax, argmin, count_nonzero, cumprod,  # noqa
                            cumsum, logsumexp, max, mean, median, min, norm, prod, std, std_mean, sum, var,
                            var_mean)
from .ops.movement import (cat, concat, concatenate, flip, fliplr, flipud, hstack, meshgrid,  # noqa: F401
                           repeat_interleave, roll, stack, tile, tril, triu, vstack)
from .ops.shape import (atleast_1d, atleast_2d, broadcast_to, chunk, diagonal, expand, flatten,  # noqa: F401
                        movedim, narrow, permute, ravel, reshape, select, split, squeeze, swapaxes, swapdims, t,
                        tensor_split, transpose, unbind, unflatten, unsqueeze)

from .ops.arrange import *  # noqa: F401,F403
from .ops.decomp import *  # noqa: F401,F403
from .ops.lowrank import *  # noqa: F401,F403
from .ops.products import *  # noqa: F401,F403
from .ops.scatter_views import *  # noqa: F401,F403
from .ops.spectral import *  # noqa: F401,F403
from .ops.stats import *  # noqa: F401,F403
from ._settings import *  # noqa: F401,F403
from ._settings import use_deterministic_algorithms  # noqa: F401
globals().update(_ops.arrange.COPIES)
# torch.<name> for these is torch.nn.functional.<name>: resolved on first use (nn loads lazily)
_FUNCTIONAL = ("conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "pixel_shuffle", "pixel_unshuffle",
               "cosine_similarity", "pairwise_distance", "prelu", "bilinear", "hardshrink")


def conv_tbc(input, weight, bias, pad=0):
    """1-d convolution over (time, batch, channels) input with a (kernel, in, out) weight."""
    from .nn import functional
    out = functional.conv1d(input.permute(1, 2, 0), weight.permute(2, 1, 0), bias, padding=pad)  # (B, out, T')
    return out.permute(2, 0, 1)                                                                 # (T', B, out)


def softmax(input, dim, dtype=None):
    """``torch.softmax``: ``nn.functional.softmax`` with ``dtype`` third (as PyTorch's signature)."""
    from .nn import functional
    return functional.softmax(input, dim, dtype=dtype)

bool = _dtypes.bool_  # noqa: A001 - blaze.bool, as torch.bool
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001
short = int16

__version__ = "0.1.0"


def is_tensor(obj) -> "bool":
    return isinstance(obj, Tensor)


def numel(input) -> "int":
    return input.numel()


def clone(input):
    return input.clone()


def detach(input):
    return input.detach()


def is_floating_point(input):
    return input.dtype.is_floating_point


def result_type(a, b):
    return _dtypes.result_type(a, b)


def can_cast(from_, to):
    return _dtypes.can_cast(from_, to)


def _legacy_type_names():
    from ._tensor import _TYPE_NAMES
    return _TYPE_NAMES.values()


def __getattr__(name):
    # Subpackages that are heavier or optional load on first use, keeping `import blaze` fast.
    import importlib
    if name in _FUNCTIONAL:
        from .nn import functional
        return getattr(functional, name)
    if name in ("nn", "optim", "data", "cuda", "amp", "utils", "kernels", "autograd", "backends", "devices", "tuning",
                "onnx", "distributed", "vision", "serialization", "audio", "linalg", "profiler"):
        return importlib.import_module(f"blaze.{name}")
    if name in ("from_dlpack", "to_dlpack"):
        from .utils import dlpack
        return getattr(dlpack, name)
    if name in _legacy_type_names():
        from ._legacy_types import CPU_TYPES
        return CPU_TYPES[name]
    if name in ("save", "load"):
        from . import serialization
        return getattr(serialization, name)
    if name in ("multiprocessing", "accelerator", "compat", "xpu"):
        return importlib.import_module(f"blaze.{name}")
    if name == "autocast":
        from .amp import autocast
        return autocast
    if name in ("selu_", "celu_", "threshold_", "rrelu_"):  # torch.*_ in-place activations: nn.functional's
        from .nn import functional
        return getattr(functional, name)
    raise AttributeError(f"module 'blaze' has no attribute {name!r}")
