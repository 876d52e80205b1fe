"""The Tensor: data on a device, its place in the autograd graph, and PyTorch's methods.

A Tensor holds a backend array (``numpy.ndarray`` on "cpu"), its device and dtype, and —
when it takes part in autograd — the node that produced it. Views share memory *and* a
version counter with their base, so an in-place change through any of them is seen by
every saved-tensor check. Math lives in ``blaze.ops``; the methods here are bound from it.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import _debug
from . import dtypes as _dt
from .autograd.function import _TRACING, AccumulateGrad, _RemovableHandle
from .autograd.grad_mode import _state
from .device import CPU


_BACKWARD = []


def _backward_fn():
    if not _BACKWARD:  # blaze.autograd imports this module: resolve on first use
        from .autograd import backward
        _BACKWARD.append(backward)
    return _BACKWARD[0]


class Size(tuple):
    """The shape of a tensor: a tuple with ``numel()``, printed like ``torch.Size``."""

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self) -> str:
        return f"blaze.Size({list(self)})"

    def __getitem__(self, item):
        r = tuple.__getitem__(self, item)
        return Size(r) if isinstance(item, slice) else r


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor",
               "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


class Tensor:
    """A multi-dimensional array with autograd, as ``torch.Tensor``.

    Create tensors with ``blaze.tensor``, ``blaze.zeros``, ``blaze.from_numpy`` and friends.
    """

    __slots__ = ("_data", "_device", "_dtype", "_rg", "_grad_fn", "_out_idx", "_version", "_base",
                 "_view_parent", "_view_op", "_acc", "grad", "_retains_grad", "__weakref__", "__dict__")

    # ---------------------------------------------------------------- construction
    @staticmethod
    def _make(data, device=CPU, dtype=None):
        t = object.__new__(Tensor)
        if isinstance(data, np.generic):
            data = np.asarray(data)
        t._data = data
        t._device = device
        t._dtype = dtype if dtype is not None else _dt.from_numpy_dtype(data.dtype)
        t._rg = False
        t._grad_fn = None
        t._out_idx = 0
        t._version = [0]
        t._base = None
        t._acc = None
        t.grad = None
        t._retains_grad = False
        if _debug.ON:
            _debug.check(t)
        return t

    def __init__(self, *args, **kwargs):
        raise TypeError("create tensors with blaze.tensor(), blaze.zeros(), blaze.from_numpy() and the like")

    def _make_view(self, data, op):
        """A view of ``self`` sharing memory and version counter; ``op(t)`` rebuilds it from ``self``."""
        t = Tensor._make(data, self._device, self._dtype)
        t._version = self._version
        t._base = self if self._base is None else self._base
        t._view_parent = self
        t._view_op = op
        return t

    def _shallow_copy(self):
        t = Tensor._make(self._data, self._device, self._dtype)
        t._version = self._version
        return t

    # ---------------------------------------------------------------- properties
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[self._wrap_dim(dim)]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    @property
    def dtype(self):
        return self._dtype

    @property
    def device(self):
        return self._device

    @property
    def is_cuda(self) -> bool:
        return self._device.type == "cuda"

    @property
    def is_cpu(self) -> bool:
        return self._device.type == "cpu"

    # Device types and layouts blaze has none of (PyTorch code tests them to pick a code path).
    is_xpu = is_mps = is_meta = is_ipu = is_xla = is_maia = is_mtia = is_vulkan = property(lambda self: False)
    is_sparse = is_sparse_csr = is_quantized = is_nested = is_mkldnn = property(lambda self: False)

    def is_complex(self) -> bool:
        return False  # blaze has no complex dtypes

    def is_signed(self) -> bool:
        return self._dtype.is_signed

    def share_memory_(self) -> "Tensor":
        """Move this CPU tensor's memory into shared memory, in place (no-op on cuda, as PyTorch)."""
        from ._shared_memory import share_memory_
        return share_memory_(self)

    def is_shared(self) -> bool:
        """True when this tensor's memory is shared memory that other processes can map."""
        from ._shared_memory import is_shared
        return is_shared(self)

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._grad_fn is not None:
            if not value:
                raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to use "
                                   "a computed variable in a subgraph that doesn't require differentiation use "
                                   "var_no_grad = var.detach().")
            return
        if value and not self._dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._rg = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    @property
    def data(self) -> "Tensor":
        return Tensor._make(self._data, self._device, self._dtype)

    @data.setter
    def data(self, other: "Tensor") -> None:
        if not isinstance(other, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(other).__name__}")
        self._data, self._device, self._dtype = other._data, other._device, other._dtype

    @property
    def _version_counter(self) -> int:
        return self._version[0]

    def _type_name(self) -> str:
        name = _TYPE_NAMES[self._dtype.name]
        return name if self._device.type == "cpu" else f"{self._device.type}.{name}"

    def type(self, dtype=None):
        if dtype is None:
            return "blaze." + self._type_name()
        return self.to(dtype)

    def element_size(self) -> int:
        return self._dtype.itemsize

    def stride(self, dim=None):
        st = self._device.backend.strides(self._data)
        return st if dim is None else st[self._wrap_dim(dim)]

    def is_contiguous(self) -> bool:
        return self._device.backend.is_contiguous(self._data)

    def is_floating_point(self) -> bool:
        return self._dtype.is_floating_point

    def _wrap_dim(self, dim: int, ndim: int | None = None) -> int:
        n = self._data.ndim if ndim is None else ndim
        lo, hi = (-n, n - 1) if n else (-1, 0)
        if not isinstance(dim, (int, np.integer)) or not lo <= dim <= hi:
            raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
        return int(dim) % n if n else 0

    # ---------------------------------------------------------------- autograd plumbing
    def _edge(self):
        if self._grad_fn is not None:
            return (self._grad_fn, self._out_idx)
        if self._acc is None:
            self._acc = AccumulateGrad(self)
        return (self._acc, 0)

    def _set_grad_fn(self, node, idx) -> None:
        self._grad_fn = node
        self._out_idx = idx
        self._rg = True

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``, as ``torch.Tensor.backward``."""
        _backward_fn()(self, gradient, retain_graph, create_graph, inputs=inputs)

    def detach(self) -> "Tensor":
        t = Tensor._make(self._data, self._device, self._dtype)
        t._version = self._version
        return t

    def detach_(self) -> "Tensor":
        if self._base is not None:  # its base's graph would still reach through it
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._grad_fn = None
        self._rg = False
        return self

    def retain_grad(self) -> None:
        if self._grad_fn is None:
            return
        if self._retains_grad:
            return
        self._retains_grad = True
        ref = weakref.ref(self)

        def keep(g):
            t = ref()
            if t is not None:
                t.grad = g.detach() if t.grad is None else t.grad + g.detach()
        self._grad_fn.register_hook(keep, self._out_idx)

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; its result replaces the grad."""
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        node, idx = self._edge()
        return node.register_hook(hook, idx)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(self)`` after backward has accumulated into this leaf's ``.grad`` (DDP's bucket trigger)."""
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        node = self._edge()[0]
        if node._post_hooks is None:
            node._post_hooks = []
        node._post_hooks.append(hook)
        return _RemovableHandle(node._post_hooks, hook)

    # ---------------------------------------------------------------- in-place machinery
    def _check_inplace(self) -> None:
        if _state.enabled:
            if self._rg and self._grad_fn is None:
                raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
            b = self._base
            if b is not None and b._rg and b._grad_fn is None:
                raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                                   "in-place operation.")

    def _graph_alias(self, data=None) -> "Tensor":
        """A tensor at ``self``'s place in the graph, on ``data``, with a version counter of its own."""
        t = Tensor._make(self._data if data is None else data, self._device, self._dtype)
        t._rg, t._grad_fn, t._out_idx, t._acc = self._rg, self._grad_fn, self._out_idx, self._acc
        return t

    def _inplace_apply(self, fn, *args, **kwargs) -> "Tensor":
        """``self.<op>_(*args)``: compute ``fn(self, *args)`` out of place, then write it in place.

        As PyTorch's "original self": when the graph is recorded, ``fn`` sees an alias of
        ``self`` with its own version counter, and any tensor a node saved from it gets a
        private copy of its data before the write, so backward reads the values from before
        the write (``y[:, :2].clamp_(...)`` needs them) and the version check does not trip on
        the write itself. Ops that save nothing of ``self`` (add_, mul_ by a number) copy nothing.
        """
        self._check_inplace()
        if not (_state.enabled and (self._rg or any(isinstance(a, Tensor) and a._rg for a in args)
                               or any(isinstance(a, Tensor) and a._rg for a in kwargs.values()))):
            return self._inplace(fn(self, *args, **kwargs))
        from .autograd.function import _WATCH
        src = self._graph_alias()
        watch = (src._version, [])
        prev, _WATCH[0] = _WATCH[0], watch
        try:
            result = fn(src, *(src if a is self else a for a in args), **kwargs)
        finally:
            _WATCH[0] = prev
        backend = self._device.backend
        for node in watch[1]:
            for entry in node._saved:
                t = entry[0]
                if t is not None and t._version is watch[0]:
                    t._data, t._version = backend.copy(t._data), [t._version[0]]
        return self._inplace(result)

    def _inplace(self, result) -> "Tensor":
        """Make ``result`` (computed out of place from ``self``, or a number) the new value of ``self``.

        Data is written into ``self``'s memory (through to its base if it is a view); the
        version counter moves; the graph records the write: ``self`` takes ``result``'s place,
        or — for a view, or a constant written over a tensor in a graph — the base is
        re-pointed through a CopySlices node, so no gradient reaches the overwritten values.
        """
        if isinstance(result, Tensor):
            if result._dtype is not self._dtype and not _dt.can_cast(result._dtype, self._dtype):
                raise RuntimeError(f"result type {_dt.type_label(result._dtype)} can't be cast to the desired "
                                   f"output type {_dt.type_label(self._dtype)}")
            if result._data.shape != self._data.shape:
                try:
                    bshape = np.broadcast_shapes(result._data.shape, self._data.shape)
                except ValueError:
                    bshape = result._data.shape
                if bshape != self._data.shape:
                    raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                                       f"{list(bshape)}")
            self._device.backend.assign(self._data, result._data)
            graph = result._rg
        else:
            self._device.backend.assign(self._data, result)
            graph = False
        self._version[0] += 1
        if _state.enabled and (graph or self._rg):
            if self._base is None and graph:
                self._set_grad_fn(result._grad_fn, result._out_idx)
            else:
                from .ops.shape import rebase_view
                rebase_view(self, result)
        if _TRACING[0] is not None:
            _TRACING[0].inplace(self, result)
        return self

    # ---------------------------------------------------------------- conversion
    def numpy(self, *, force: bool = False) -> np.ndarray:
        if self._rg and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if self._device.type != "cpu":
            if not force:
                raise TypeError(f"can't convert {self._device} device type tensor to numpy. Use Tensor.cpu() to "
                                "copy the tensor to host memory first.")
            return self._device.backend.to_numpy(self._data)
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = self.detach().cpu()._data
        return a if dtype is None else a.astype(dtype)

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self.detach().cpu()._data.reshape(()).item()

    def tolist(self):
        a = self.detach().cpu()._data
        if self._dtype is _dt.bfloat16:
            a = a.astype(np.float32)
        return a.tolist()

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._dtype.category != 1 or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __hash__(self) -> int:
        return id(self)

    def __reduce_ex__(self, protocol):
        # Pickling (DataLoader workers) carries data, dtype and requires_grad; never code.
        return (_rebuild, (self.detach().cpu()._data, self._dtype.name, str(self._device), self._rg))

    def __repr__(self) -> str:
        from ._repr import tensor_repr
        return tensor_repr(self)

    def __format__(self, spec):
        if self._data.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def __deepcopy__(self, memo):
        t = self.detach().clone()
        t._rg = self._rg
        if self.grad is not None:
            t.grad = self.grad.detach().clone()
        memo[id(self)] = t
        return t

    # DLPack and the CUDA array interface live in blaze/utils/dlpack.py
    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        from .utils.dlpack import to_dlpack
        return to_dlpack(self, stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)

    def __dlpack_device__(self):
        from .utils.dlpack import dlpack_device
        return dlpack_device(self)

    @property
    def __cuda_array_interface__(self):
        from .utils.dlpack import cuda_array_interface
        return cuda_array_interface(self)


def _rebuild(array, dtype_name, device_str, requires_grad):
    t = Tensor._make(np.array(array), CPU, _dt._by_name(dtype_name))
    if device_str != "cpu":
        t = t.to(device_str)
    t._rg = requires_grad
    return t


__all__ = ["Tensor", "Size"]
