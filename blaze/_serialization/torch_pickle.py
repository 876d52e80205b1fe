"""The pickle inside PyTorch checkpoints: a restricted reader and a minimal writer.

Reading. ``pickle.Unpickler`` with ``find_class`` overridden, the restriction Python's pickle
documentation recommends: every global a file names goes through :meth:`TorchUnpickler.find_class`,
which answers only from a fixed table of what ``torch.load(weights_only=True)`` allows —
``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter``, the typed storages
(``torch.FloatStorage``...) and ``torch.UntypedStorage``, ``torch.Size``, ``torch.device``, the
``torch.<dtype>`` names, ``collections.OrderedDict``, ``set`` — each mapped to a blaze function
that builds the value from data — plus the classes :mod:`.objtree` allows. Such a class comes
back as an allocation-only stand-in: ``NEWOBJ`` gets ``cls.__new__(cls)``, while calling it
(``REDUCE``, ``INST``: a file asking to run ``__init__`` with its own arguments) is refused.
Anything else — ``os.system``, ``builtins.eval``, ``torch.nn.Linear`` — raises before anything
from the file runs.

Tensors are views of their storage (``np.lib.stride_tricks.as_strided`` over one writable
buffer per storage key), so two tensors saved over one storage share memory again, as in
PyTorch; size, stride and offset are checked against the storage first.

Writing. A protocol-2 pickle with exactly the opcodes and globals ``torch.save`` emits (checked
opcode by opcode in the tests against a file torch wrote): ``collections.OrderedDict`` for
ordered dicts, ``_rebuild_tensor_v2(persistent storage id, offset, size, stride, requires_grad,
OrderedDict())``, ``_rebuild_parameter`` for Parameters, ``torch.<dtype>``, ``torch.device``.
Whole objects are ``GLOBAL cls, (), NEWOBJ, __dict__, BUILD``: what pickle writes for a plain class.
"""
from __future__ import annotations

import io
import math
import pickle
import struct
from collections import OrderedDict, defaultdict

import numpy as np

from .. import dtypes as _dt
from ..device import device as _device
from .._tensor import Tensor
from . import objtree

# typed storage class -> dtype name; UntypedStorage holds bytes
STORAGE_DTYPES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
                  "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
                  "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
                  "UntypedStorage": "uint8"}
_STORAGE_OF = {v: k for k, v in STORAGE_DTYPES.items() if k != "UntypedStorage"}
# torch.<name> -> blaze dtype name (PyTorch pickles a dtype as the global torch.float32 etc.)
_TORCH_DTYPES = {"float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
                 "float16": "float16", "half": "float16", "bfloat16": "bfloat16", "int64": "int64",
                 "long": "int64", "int32": "int32", "int": "int32", "int16": "int16", "short": "int16",
                 "int8": "int8", "uint8": "uint8", "bool": "bool"}
# defaultdict factories a file may name (optimizer state is a defaultdict(dict))
_FACTORIES = {dict, list, set, int, float}


def np_dtype(name: str) -> np.dtype:
    return _dt.bfloat16.np if name == "bfloat16" else np.dtype(name)


class StorageType:
    """What ``torch.FloatStorage`` and friends resolve to: only a dtype name."""
    __slots__ = ("dtype",)

    def __init__(self, dtype: str):
        self.dtype = dtype


class Storage:
    """One storage: a 1-d writable array of ``dtype`` and the device it was saved from."""
    __slots__ = ("array", "location")

    def __init__(self, array: np.ndarray, location: str):
        self.array, self.location = array, location


def _ints(v, what):
    if not isinstance(v, (tuple, list)) or not all(type(i) is int for i in v):
        raise pickle.UnpicklingError(f"tensor {what} must be a tuple of ints, got {v!r}")
    return tuple(v)


def strided_view(storage: Storage, offset, size, stride) -> np.ndarray:
    """``size``/``stride``/``offset`` (in elements) over ``storage``, checked to stay inside it."""
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if type(offset) is not int or offset < 0 or len(size) != len(stride) or min(size + stride, default=0) < 0:
        raise pickle.UnpicklingError(f"bad tensor geometry: offset {offset!r}, size {size}, stride {stride}")
    a = storage.array
    if math.prod(size) != 0:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= a.size:
            raise pickle.UnpicklingError(f"tensor of size {list(size)}, stride {list(stride)} at offset {offset} "
                                         f"reads element {last} of a storage of {a.size}")
    else:
        offset = min(offset, a.size)
    return np.lib.stride_tricks.as_strided(a[offset:], shape=size, strides=[s * a.itemsize for s in stride],
                                           writeable=True)


class TorchUnpickler(pickle.Unpickler):
    """Restricted unpickler for a torch ``data.pkl`` (or a legacy checkpoint's main pickle).

    Args:
        file: the pickle bytes as a binary file object.
        load_storage: ``(dtype name, key, location, numel, view_metadata) -> Storage``.
        place: ``(cpu tensor, location) -> tensor`` (map_location).
        weights_only: the class policy of :mod:`.objtree`.
    """

    def __init__(self, file, load_storage, place, weights_only: bool):
        super().__init__(file)
        self._load_storage, self._place, self._weights_only = load_storage, place, weights_only
        self._stand_ins: dict[type, type] = {}
        g = {"collections.OrderedDict": OrderedDict, "builtins.set": set, "builtins.frozenset": frozenset,
             "collections.defaultdict": _defaultdict, "torch.Size": _size, "torch.device": _torch_device,
             "torch._utils._rebuild_tensor_v2": self._rebuild_tensor,
             "torch._utils._rebuild_tensor": self._rebuild_tensor,
             "torch._utils._rebuild_parameter": _rebuild_parameter,
             "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
             "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
             "torch.Tensor": _TENSOR, "torch.nn.parameter.Parameter": _PARAMETER,
             FUNCTION_REF: self._function}
        g.update({f"builtins.{f.__name__}": f for f in _FACTORIES})  # calling these on data runs no user code
        g.update({f"torch.{k}": StorageType(v) for k, v in STORAGE_DTYPES.items()})
        g["torch.storage.UntypedStorage"] = g["torch.UntypedStorage"]
        g.update({f"torch.{k}": _dt._by_name(v) for k, v in _TORCH_DTYPES.items()})
        self._globals = g

    @classmethod
    def known_globals(cls) -> frozenset:
        return frozenset(cls(io.BytesIO(b""), None, None, True)._globals)

    def find_class(self, module, name):
        path = f"{module}.{name}"
        if path in self._globals:
            return self._globals[path]
        obj = objtree.resolve(path, self._weights_only)  # raises UnpicklingError naming the class
        if path in objtree._USER_SAFE:
            return obj  # the user trusts it with its own constructor, as PyTorch does
        return self._stand_in(obj)

    def _stand_in(self, cls: type) -> type:
        if cls not in self._stand_ins:
            def __new__(stand_in, *args):
                return cls.__new__(cls)
            self._stand_ins[cls] = _AllocationOnly(cls.__name__, (), {"__new__": __new__, "_target": cls})
        return self._stand_ins[cls]

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] not in ("storage", b"storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r:.80}")
        storage_type, key, location, numel = pid[1:5]
        if not isinstance(storage_type, StorageType):
            raise pickle.UnpicklingError(f"persistent id names {storage_type!r:.60}, not a storage type")
        if isinstance(location, bytes):
            location = location.decode("ascii")
        if not isinstance(key, str) or not isinstance(location, str) or type(numel) is not int or numel < 0:
            raise pickle.UnpicklingError(f"bad storage id {pid!r:.120}")
        return self._load_storage(storage_type.dtype, key, location, numel, pid[5] if len(pid) == 6 else None)

    def _rebuild_tensor(self, storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                        metadata=None):
        if not isinstance(storage, Storage):
            raise pickle.UnpicklingError("a tensor must be rebuilt from a storage")
        a = strided_view(storage, storage_offset, size, stride)
        t = Tensor._make(a, dtype=_dt.from_numpy_dtype(a.dtype))
        t = self._place(t, storage.location)
        if requires_grad is True:
            t.requires_grad_(True)
        return t

    def _function(self, path):
        return objtree.resolve(path, self._weights_only, want_class=False)


class _AllocationOnly(type):
    def __call__(cls, *args, **kwargs):
        raise pickle.UnpicklingError(f"the checkpoint asks to call {objtree._path(cls._target)}(...); blaze "
                                     "only rebuilds objects from their data (cls.__new__ and __dict__)")


_TENSOR, _PARAMETER = object(), object()
# the global a blaze-written pickle uses for a reference to a function (F.relu held by a layer)
FUNCTION_REF = "blaze.serialization._function"


def _defaultdict(factory=None, *rest):
    if rest or (factory is not None and factory not in _FACTORIES):
        raise pickle.UnpicklingError(f"defaultdict factory {factory!r:.60} is not allowed")
    return defaultdict(factory)


def _size(dims=()):
    return tuple(_ints(list(dims), "size"))


def _torch_device(kind, index=None):
    if not isinstance(kind, str) or not (index is None or type(index) is int):
        raise pickle.UnpicklingError(f"bad device {kind!r:.40}, {index!r:.20}")
    return _device(kind if index is None else f"{kind}:{index}")


def _rebuild_parameter(data, requires_grad, backward_hooks=None):
    from ..nn.parameter import Parameter
    if not isinstance(data, Tensor):
        raise pickle.UnpicklingError("a Parameter must be rebuilt from a tensor")
    return Parameter(data.detach(), requires_grad=bool(requires_grad))


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    if state:
        raise pickle.UnpicklingError("a Parameter with extra Python attributes is not supported")
    return _rebuild_parameter(data, requires_grad)


def _rebuild_from_type_v2(func, new_type, args, state):
    if not callable(func) or new_type not in (_TENSOR, _PARAMETER) or state:
        raise pickle.UnpicklingError("only plain tensors and parameters are rebuilt")
    t = func(*args)
    return _rebuild_parameter(t, t.requires_grad) if new_type is _PARAMETER else t


# ------------------------------------------------------------------------------- writer
class TorchPickler:
    """Protocol-2 pickle of a checkpoint tree, with tensors as persistent storage ids.

    ``storages`` receives ``key -> contiguous ndarray`` for the caller to write as ``data/<key>``.
    """

    def __init__(self):
        self.out = io.BytesIO()
        self.memo: dict = {}  # id(obj) or ("global", module, name) -> memo index
        self._keep: list = []  # memo keys are ids: keep every memoized object alive until the end
        self.storages: dict[str, np.ndarray] = {}
        self._storage_of: dict = {}

    def dumps(self, obj) -> bytes:
        self.out.write(b"\x80\x02")
        self._save(obj, "obj")
        self.out.write(b".")
        return self.out.getvalue()

    # -------------------------------------------------------- opcodes
    def _put(self, key):
        i = self.memo[key] = len(self.memo)
        self.out.write(b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i))

    def _get(self, key) -> bool:
        i = self.memo.get(key)
        if i is None:
            return False
        self.out.write(b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i))
        return True

    def _memo_obj(self, obj):
        self._keep.append(obj)
        self._put(id(obj))

    def _global_ref(self, module, name):
        key = ("global", module, name)
        if not self._get(key):
            self.out.write(b"c" + f"{module}\n{name}\n".encode("utf-8"))
            self._put(key)

    def _str(self, s: str):
        b = s.encode("utf-8", "surrogatepass")
        self.out.write(b"X" + struct.pack("<I", len(b)) + b)

    def _int(self, v: int):
        if 0 <= v < 256:
            self.out.write(b"K" + bytes([v]))
        elif 0 <= v < 65536:
            self.out.write(b"M" + struct.pack("<H", v))
        elif -2**31 <= v < 2**31:
            self.out.write(b"J" + struct.pack("<i", v))
        else:
            b = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            if len(b) > 255:
                raise ValueError(f"blaze.save: integer {v} is too large for the PyTorch format")
            self.out.write(b"\x8a" + bytes([len(b)]) + b)

    def _tuple(self, items, where):
        if not items:
            self.out.write(b")")
            return
        if len(items) <= 3:
            for v in items:
                self._save(v, where)
            self.out.write(b"\x85\x86\x87"[len(items) - 1:len(items)])
            return
        self.out.write(b"(")
        for v in items:
            self._save(v, where)
        self.out.write(b"t")

    def _setitems(self, items, where):
        items = list(items)
        for i in range(0, len(items), 1000):  # pickle batches SETITEMS by 1000
            chunk = items[i:i + 1000]
            if len(chunk) > 1:
                self.out.write(b"(")
            for k, v in chunk:
                self._save(k, where)
                self._save(v, f"{where}[{k!r}]")
            self.out.write(b"u" if len(chunk) > 1 else b"s")

    # -------------------------------------------------------- values
    def _save(self, obj, where):
        if obj is None:
            self.out.write(b"N")
        elif obj is True or obj is False or isinstance(obj, np.bool_):
            self.out.write(b"\x88" if obj else b"\x89")
        elif isinstance(obj, (int, np.integer)):
            self._int(int(obj))
        elif isinstance(obj, (float, np.floating)):
            self.out.write(b"G" + struct.pack(">d", float(obj)))
        elif self._get(id(obj)):
            pass
        elif isinstance(obj, str):
            self._str(obj)
            self._memo_obj(obj)
        elif isinstance(obj, Tensor):
            self._tensor(obj, where)
        elif isinstance(obj, _dt.dtype):
            self._global_ref("torch", obj.name)
        elif isinstance(obj, _device):
            self._global_ref("torch", "device")
            self._tuple((str(obj),), where)
            self.out.write(b"R")
        elif isinstance(obj, tuple):
            self._tuple(obj, where)
            self._memo_obj(obj)
        elif isinstance(obj, list):
            self.out.write(b"]")
            self._memo_obj(obj)
            for i in range(0, len(obj), 1000):
                self.out.write(b"(")
                for j, v in enumerate(obj[i:i + 1000]):
                    self._save(v, f"{where}[{i + j}]")
                self.out.write(b"e")
        elif isinstance(obj, (set, frozenset)):
            self._global_ref("builtins", type(obj).__name__)
            self.out.write(b"]")
            for v in obj:
                self._save(v, where)
                self.out.write(b"a")
            self.out.write(b"\x85R")
            self._memo_obj(obj)
        elif isinstance(obj, dict):
            self._dict(obj, where)
        elif objtree.is_function_ref(obj):
            module, name = FUNCTION_REF.rsplit(".", 1)
            self._global_ref(module, name)
            self._tuple((objtree.function_path(obj, where),), where)
            self.out.write(b"R")
        else:
            path, state = objtree.object_state(obj, where)
            module, name = type(obj).__module__, type(obj).__qualname__
            self._global_ref(module, name)
            self.out.write(b")\x81")  # EMPTY_TUPLE NEWOBJ: cls.__new__(cls)
            self._memo_obj(obj)
            self._save(dict(state), f"{where}.__dict__")
            self.out.write(b"b")

    def _dict(self, obj, where):
        if type(obj) is dict:
            self.out.write(b"}")
        elif isinstance(obj, OrderedDict):
            self._global_ref("collections", "OrderedDict")
            self.out.write(b")R")
        elif isinstance(obj, defaultdict):
            if obj.default_factory is not None and obj.default_factory not in _FACTORIES:
                raise TypeError(f"blaze.save: defaultdict factory {obj.default_factory!r} (at {where}) is code; "
                                f"only {sorted(f.__name__ for f in _FACTORIES)} are stored")
            self._global_ref("collections", "defaultdict")
            if obj.default_factory is None:
                self.out.write(b"N\x85R")
            else:
                self._global_ref("builtins", obj.default_factory.__name__)
                self.out.write(b"\x85R")
        else:
            raise TypeError(f"blaze.save: cannot save a {type(obj).__name__} (at {where})")
        self._memo_obj(obj)
        if obj:
            self._setitems(obj.items(), where)
        if isinstance(obj, OrderedDict) and getattr(obj, "_metadata", None) is not None:
            # a state_dict's _metadata (module versions), as torch writes it: BUILD with {"_metadata": ...}
            self.out.write(b"}")
            self._setitems([("_metadata", obj._metadata)], where)
            self.out.write(b"b")

    def _tensor(self, t: Tensor, where):
        from ..nn.parameter import Parameter
        if isinstance(t, Parameter):
            self._global_ref("torch._utils", "_rebuild_parameter")
            self.out.write(b"(")
            self._plain_tensor(t, where)
            self.out.write(b"\x88" if t.requires_grad else b"\x89")
            self._global_ref("collections", "OrderedDict")
            self.out.write(b")RtR")
        else:
            self._plain_tensor(t, where)
        self._memo_obj(t)

    def _plain_tensor(self, t: Tensor, where):
        name = t.dtype.name
        if name not in _STORAGE_OF:
            raise TypeError(f"blaze.save: dtype {name} (at {where}) has no PyTorch storage type")
        a = t.detach().cpu().numpy()
        alias = (a.__array_interface__["data"][0], a.shape, a.strides, name)
        key = self._storage_of.get(alias)
        if key is None:
            key = self._storage_of[alias] = str(len(self.storages))
            self.storages[key] = a if a.flags.c_contiguous else a.copy(order="C")
        self._global_ref("torch._utils", "_rebuild_tensor_v2")
        self.out.write(b"((")
        self._str("storage")
        self._global_ref("torch", _STORAGE_OF[name])
        self._str(key)
        self._str(str(t.device))
        self._int(a.size)
        self.out.write(b"tQ")  # TUPLE, BINPERSID
        self._int(0)
        self._tuple(tuple(int(n) for n in a.shape), where)
        strides = [1] * a.ndim
        for i in range(a.ndim - 2, -1, -1):
            strides[i] = strides[i + 1] * int(a.shape[i + 1])
        self._tuple(tuple(strides), where)
        self.out.write(b"\x88" if t.requires_grad and not _is_param(t) else b"\x89")
        self._global_ref("collections", "OrderedDict")
        self.out.write(b")RtR")


def _is_param(t) -> bool:
    from ..nn.parameter import Parameter
    return isinstance(t, Parameter)
