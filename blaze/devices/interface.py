"""The declared device interface: a required core tier and optional fused groups.

A device implements the ``CORE`` primitives (abstract below: creation, copy/cast, random,
elementwise by op name, reductions, views, movement/indexing, matmul). Everything else is in an
optional group (``GROUPS``) whose default is written once over the core tier
(blaze/devices/defaults/, one module per group), so a device with only the core tier runs every
layer; a device overrides a group with its fused version. ``supports(group)`` says whether a
device brings its own version of a whole group; callers ask it instead of probing with ``getattr``.

Arrays are the device's own type (``numpy.ndarray`` on cpu, ``DeviceArray`` on cuda); dtypes
arrive as ``blaze.dtypes`` objects, already promoted by the op layer.
"""
from __future__ import annotations

import abc

from .defaults import GroupDefaults

CORE = (
    "empty", "full", "from_numpy", "to_numpy", "copy", "cast",
    "uniform", "normal", "randint", "randperm", "bernoulli", "multinomial",
    "unary", "binary", "where", "assign",
    "reduce", "argreduce", "cumsum", "cumprod",
    "view", "reshape", "permute", "expand", "as_strided", "contiguous", "is_contiguous", "strides",
    "cat", "pad", "getitem", "setitem", "index_put", "gather", "scatter", "scatter_reduce",
    "nonzero", "sort", "unique",
    "matmul",
)

# Optional groups, each with a default over the core tier (blaze/devices/defaults/).
GROUPS = {
    "derived": ("arange", "linspace", "eye", "clamp", "stack", "expand_dims", "logsumexp", "index_select", "var",
                "sum_to_dtype", "diagonal", "flip", "roll", "tril", "triu", "repeat", "repeat_interleave",
                "pad_mode", "topk", "einsum"),
    "nn": ("linear", "softmax", "softmax_backward", "gelu", "gelu_backward", "layer_norm", "layer_norm_backward",
           "rms_norm", "rms_norm_backward", "batch_norm", "batch_norm_backward", "cross_entropy",
           "cross_entropy_backward", "embedding", "embedding_backward", "dropout", "dropout_backward",
           "dropout_mask"),
    # a linear layer with the matmul epilogue's activation and residual (F.linear_act); residual add +
    # LayerNorm and residual + dropout(x + bias), the transformer block's joints
    "fused": ("linear_act", "linear_act_backward", "add_layer_norm", "add_layer_norm_backward", "bias_dropout_add"),
    "conv": ("conv2d", "conv2d_backward_input", "conv2d_backward_weight", "conv2d_backward_bias", "max_pool2d",
             "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "adaptive_avg_pool2d",
             "adaptive_avg_pool2d_backward", "interpolate2d", "interpolate2d_backward"),
    "attention": ("attention", "attention_backward"),
    "rnn": ("lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "rnn_forward", "rnn_backward"),
    "optim": ("sgd_step", "adam_step", "rmsprop_step", "adagrad_step"),
    # the same steps over a list of tensors of one device and dtype (PyTorch's foreach/fused),
    # zero_grad(set_to_none=False) and clip_grad_norm_(foreach=True)
    "foreach": ("sgd_foreach", "adam_foreach", "rmsprop_foreach", "adagrad_foreach", "zero_foreach",
                "clip_norm_foreach"),
    # detection (blaze.vision.ops): NMS keep mask over score-sorted boxes, RoIAlign, RoIPool
    "vision": ("nms_sorted", "roi_align", "roi_align_backward", "roi_pool", "roi_pool_backward"),
}


_SUPPORTS: dict = {}


class Backend(GroupDefaults, abc.ABC):
    """One device's primitives. Subclass, implement ``CORE``, and the device runs."""

    name: str = "?"

    # -- core tier: creation, copy, cast ---------------------------------------------------
    @abc.abstractmethod
    def empty(self, shape, dtype): ...
    @abc.abstractmethod
    def full(self, shape, value, dtype): ...
    @abc.abstractmethod
    def from_numpy(self, a): ...
    @abc.abstractmethod
    def to_numpy(self, a): ...
    @abc.abstractmethod
    def copy(self, a): ...
    @abc.abstractmethod
    def cast(self, x, dtype): ...

    # -- core tier: random (``gen`` is a blaze.Generator) -----------------------------------
    @abc.abstractmethod
    def uniform(self, shape, dtype, gen, low=0.0, high=1.0): ...
    @abc.abstractmethod
    def normal(self, shape, dtype, gen, mean=0.0, std=1.0): ...
    @abc.abstractmethod
    def randint(self, low, high, shape, dtype, gen): ...
    @abc.abstractmethod
    def randperm(self, n, dtype, gen): ...
    @abc.abstractmethod
    def bernoulli(self, p, dtype, gen): ...
    @abc.abstractmethod
    def multinomial(self, probs, num_samples, replacement, gen): ...

    # -- core tier: elementwise by op name (blaze.ops.pointwise's tables) -------------------
    @abc.abstractmethod
    def unary(self, op, x): ...
    @abc.abstractmethod
    def binary(self, op, a, b): ...
    @abc.abstractmethod
    def where(self, cond, a, b): ...
    @abc.abstractmethod
    def assign(self, dst, src): ...

    # -- core tier: reductions ---------------------------------------------------------------
    @abc.abstractmethod
    def reduce(self, op, x, axis, keepdim): ...
    @abc.abstractmethod
    def argreduce(self, op, x, axis, keepdim): ...
    @abc.abstractmethod
    def cumsum(self, x, axis, dtype): ...
    @abc.abstractmethod
    def cumprod(self, x, axis, dtype): ...

    # -- core tier: views --------------------------------------------------------------------
    @abc.abstractmethod
    def view(self, x, shape): ...
    @abc.abstractmethod
    def reshape(self, x, shape): ...
    @abc.abstractmethod
    def permute(self, x, dims): ...
    @abc.abstractmethod
    def expand(self, x, shape): ...
    @abc.abstractmethod
    def as_strided(self, x, shape, strides, offset): ...
    @abc.abstractmethod
    def contiguous(self, x): ...
    @abc.abstractmethod
    def is_contiguous(self, x) -> bool: ...
    @abc.abstractmethod
    def strides(self, x): ...

    # -- core tier: movement and indexing ----------------------------------------------------
    @abc.abstractmethod
    def cat(self, xs, axis): ...
    @abc.abstractmethod
    def pad(self, x, pad_width, value): ...
    @abc.abstractmethod
    def getitem(self, x, key): ...
    @abc.abstractmethod
    def setitem(self, x, key, value): ...
    @abc.abstractmethod
    def index_put(self, x, key, value, accumulate): ...
    @abc.abstractmethod
    def gather(self, x, axis, idx): ...
    @abc.abstractmethod
    def scatter(self, x, axis, idx, src, reduce=None): ...
    @abc.abstractmethod
    def scatter_reduce(self, x, axis, idx, src, reduce, include_self): ...
    @abc.abstractmethod
    def nonzero(self, x): ...
    @abc.abstractmethod
    def sort(self, x, axis, descending, stable): ...
    @abc.abstractmethod
    def unique(self, x, sorted_, return_inverse, return_counts): ...

    # -- core tier: matmul, numpy.matmul semantics with the epilogue act(a @ b + bias) + residual
    @abc.abstractmethod
    def matmul(self, a, b, bias=None, residual=None, activation=None): ...

    # -- capability ------------------------------------------------------------------------
    @classmethod
    def supports(cls, group: str) -> bool:
        """True when this device brings its own version of every primitive in ``group``."""
        key = (cls, group)
        r = _SUPPORTS.get(key)
        if r is None:  # asked once per parameter per optimizer step: remember the answer
            if group not in GROUPS:
                raise ValueError(f"unknown primitive group {group!r} (known: {', '.join(GROUPS)})")
            r = _SUPPORTS[key] = all(getattr(cls, n) is not getattr(Backend, n) for n in GROUPS[group])
        return r
