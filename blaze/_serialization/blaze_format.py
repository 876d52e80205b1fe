"""blaze's checkpoint format: one safetensors file whose header holds the object tree as JSON.

A blaze checkpoint is one safetensors file. Every tensor of the saved object is a safetensors
entry under a generated key (``t0``, ``t1``, ...); the rest of the object — nesting, dict
keys of any JSON scalar type, tuples vs lists, ints, floats, strings, dtypes, devices — is
JSON in the safetensors ``__metadata__`` under the key ``"blaze"``. Nothing is pickled, so
loading an untrusted file cannot run code; whole objects name their class, which
``objtree.resolve`` checks against ``weights_only`` and the allow-list before anything is built.

JSON encoding of the object tree (every container is tagged, so user dicts can never be
mistaken for our tags)::

    None / bool / int / float / str   as themselves (NaN and inf as Python's json writes them)
    list                              [items]
    tuple                             {"tuple": [items]}
    dict with str keys                {"dict": {key: value}}
    any other dict                    {"items": [[key, value], ...]}
    Tensor                            {"tensor": "t3", "dtype": "float32", "device": "cpu", "requires_grad": false}
    numpy.ndarray                     {"ndarray": "t4"}
    blaze.dtype / blaze.device        {"dtype": "bfloat16"} / {"device": "cuda:0"}
    Parameter                         a tensor node with "parameter": true
    OrderedDict / set / frozenset     {"odict": [[key, value], ...]} / {"set": [items]} / {"frozenset": [items]}
    defaultdict                       {"defaultdict": [factory name or None, [[key, value], ...]]}
    whole object                      {"object": "blaze.nn.modules.linear.Linear", "id": 3, "state": {"dict": ...}}
    the same object again             {"ref": 3}     (tied modules, the optimizer's parameters)
    blaze function                    {"function": "blaze.nn.functional.relu"}

Tensors are stored contiguous, on the CPU (cuda tensors via ``.cpu()``). Tensors over exactly
the same memory, shape, strides, dtype and class (one tensor saved twice, tied weights in a state
dict, a model's Parameter that its optimizer also holds) are stored once and come back as one
object; other memory sharing (overlapping or partial views) is not kept: such tensors are stored
separately and load as independent copies.
"""
from __future__ import annotations

import json
import math
from collections import OrderedDict, defaultdict

import numpy as np

from .. import dtypes as _dt
from ..device import device as _device
from .._tensor import Tensor
from . import CheckpointError, device_str as _device_str, objtree
from .torch_pickle import np_dtype

_FORMAT = "blaze-checkpoint"
# 2 added the odict / set / frozenset / defaultdict / object / ref / function nodes and the tensor
# node's "parameter" flag; version 1 files use a subset of 2 and still load
_VERSION = 2
# safetensors dtype names <-> NumPy dtypes (BF16 through ml_dtypes, which blaze already uses).
_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
              "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "U16": "uint16", "U32": "uint32",
              "U64": "uint64", "BOOL": "bool"}
# A safetensors header is an 8-byte little-endian length and a JSON object; the format caps it
# at 100 MB, and a length beyond that marks a file that is not safetensors at all.
_MAX_HEADER = 100_000_000


def to_bytes(obj) -> bytes:
    """``obj`` as a blaze checkpoint (safetensors bytes)."""
    enc = _Encoder()
    tree = enc.encode(obj, "obj")
    metadata = {"format": _FORMAT, "version": str(_VERSION), "blaze": json.dumps(tree, allow_nan=True)}
    from safetensors.numpy import save as st_save
    return st_save(enc.arrays, metadata=metadata)


def _c_order(a: np.ndarray) -> np.ndarray:
    # not np.ascontiguousarray: it turns a 0-d array into shape (1,)
    return a if a.flags.c_contiguous else a.copy(order="C")


def _alias_key(t: Tensor):
    """Tensors over exactly the same memory, shape, strides, dtype and class (the same tensor twice,
    tied weights whose state_dict entries are separate detached tensors) are stored once."""
    a = t._data
    if isinstance(a, np.ndarray):
        ptr = a.__array_interface__["data"][0]
    else:
        ptr = a.data_ptr() if hasattr(a, "data_ptr") else id(a)
    return (str(t._device), ptr, tuple(a.shape), tuple(getattr(a, "strides", ())), t._dtype.name,
            bool(t.requires_grad), type(t))


class _Encoder:
    """The JSON tree of an object (see the module docstring); tensors go to ``arrays``."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.seen: dict = {}  # tensor alias key -> array key
        self.objects: dict[int, int] = {}  # id(whole object) -> its "id" in the file
        self._keep: list = []  # keeps ids unique while encoding

    def encode(self, obj, where):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
            return int(obj)
        if isinstance(obj, (float, np.floating)):
            return float(obj)
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, Tensor):
            return self._tensor(obj)
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in "biuf" and str(obj.dtype) != "bfloat16":
                raise TypeError(f"blaze.save: cannot save a NumPy array of dtype {obj.dtype} (at {where})")
            key = f"t{len(self.arrays)}"
            self.arrays[key] = _c_order(obj)
            return {"ndarray": key}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, (set, frozenset)):
            return {type(obj).__name__: [self.encode(v, where) for v in obj]}
        if isinstance(obj, defaultdict):
            factory = obj.default_factory
            if factory not in (None, dict, list, set, int, float):
                raise TypeError(f"blaze.save: defaultdict factory {factory!r} (at {where}) is code")
            return {"defaultdict": [factory and factory.__name__, self._items(obj, where)]}
        if isinstance(obj, OrderedDict):
            return {"odict": self._items(obj, where)}
        if isinstance(obj, dict):
            if all(type(k) is str for k in obj):
                return {"dict": {k: self.encode(v, f"{where}[{k!r}]") for k, v in obj.items()}}
            return {"items": self._items(obj, where)}
        if isinstance(obj, _dt.dtype):
            return {"dtype": obj.name}
        if isinstance(obj, _device):
            return {"device": str(obj)}
        if objtree.is_function_ref(obj):
            return {"function": objtree.function_path(obj, where)}
        if id(obj) in self.objects:
            return {"ref": self.objects[id(obj)]}
        path, state = objtree.object_state(obj, where)
        n = self.objects[id(obj)] = len(self.objects)
        self._keep.append(obj)
        return {"object": path, "id": n, "state": self.encode(dict(state), f"{where}.__dict__")}

    def _items(self, obj, where):
        items = []
        for k, v in obj.items():
            if not (k is None or isinstance(k, (bool, int, float, str, tuple, np.integer, Tensor))):
                raise TypeError(f"blaze.save: dict keys must be str, int, float, bool, None, tensors (an "
                                f"optimizer's state) or tuples of them, got {type(k).__name__} (at {where})")
            items.append([self.encode(k, where), self.encode(v, f"{where}[{k!r}]")])
        return items

    def _tensor(self, t: Tensor):
        from ..nn.parameter import Parameter
        alias = _alias_key(t)
        key = self.seen.get(alias)
        if key is None:
            key = self.seen[alias] = f"t{len(self.arrays)}"
            self.arrays[key] = _c_order(t.detach().cpu().numpy())
        node = {"tensor": key, "dtype": t.dtype.name, "device": str(t.device), "requires_grad": bool(t.requires_grad)}
        if isinstance(t, Parameter):
            node["parameter"] = True
        return node


def from_bytes(data, label: str, place, weights_only: bool, copy: bool = True):
    """The object in a blaze checkpoint held in ``data`` (bytes or an mmapped array; ``copy=False`` keeps
    tensors as views of it)."""
    metadata, arrays = _parse(data, label, copy)
    if metadata.get("format") != _FORMAT or "blaze" not in metadata:
        raise CheckpointError(f"{label} is a safetensors file but not a blaze checkpoint (no blaze metadata); "
                              "read plain safetensors files with safetensors.numpy.load_file")
    version = metadata.get("version")
    if not (isinstance(version, str) and version.isdigit() and 1 <= int(version) <= _VERSION):
        raise CheckpointError(f"{label}: blaze checkpoint version {version!r}; this blaze reads versions 1 to "
                              f"{_VERSION} (a newer blaze wrote it?)")
    try:
        tree = json.loads(metadata["blaze"])
    except (TypeError, ValueError, RecursionError) as e:  # JSON nested ~1000 deep exhausts the stack
        raise CheckpointError(f"{label}: corrupt blaze checkpoint metadata ({type(e).__name__}: {e})") from None
    return _Decoder(arrays, place, weights_only).decode(tree)  # the caller names the file in any error


def tree_globals(data, label: str) -> set[str]:
    """The class and function paths a blaze checkpoint's tree names (nothing is built)."""
    metadata, _ = _parse(data, label, copy=False)
    found, todo = set(), [json.loads(metadata.get("blaze", "null"))]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict) and "tensor" not in node:
            if "object" in node:
                found.add(str(node["object"]))
                todo.append(node.get("state"))
            elif len(node) == 1:
                (tag, value), = node.items()
                if tag == "function":
                    found.add(str(value))
                elif tag == "dict" and isinstance(value, dict):
                    todo.extend(value.values())  # user keys are data, never tags
                else:
                    todo.append(value)
    return found


def _parse(data, label: str, copy: bool = True):
    """Read a safetensors buffer: (metadata dict, {key: numpy array}), with checks that name the file."""
    if len(data) < 8:
        raise CheckpointError(f"{label} is not a blaze checkpoint: {len(data)} bytes is shorter than a "
                              "safetensors header (truncated or empty file?)")
    n = int.from_bytes(bytes(data[:8]), "little")
    if n > _MAX_HEADER:
        raise CheckpointError(f"{label} is not a blaze checkpoint (not a safetensors file: header length {n})")
    if 8 + n > len(data):
        raise CheckpointError(f"{label} is truncated: the header needs {8 + n} bytes, the file has {len(data)}")
    try:
        header = json.loads(bytes(data[8:8 + n]).decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{label} is not a blaze checkpoint (unreadable safetensors header: {e})") from None
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{label}: corrupt safetensors header (__metadata__ is a JSON "
                              f"{type(metadata).__name__}, not an object)")
    body = memoryview(data)[8 + n:]
    arrays = {}
    for key, info in header.items():
        try:
            dtype = np_dtype(_ST_DTYPES[info["dtype"]])
            shape, (start, end) = tuple(info["shape"]), info["data_offsets"]
            if not all(type(v) is int and v >= 0 for v in (*shape, start, end)):
                raise ValueError(f"shape {info['shape']} and data_offsets {info['data_offsets']} must be "
                                 "integers >= 0")
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{label}: corrupt safetensors entry {key!r} ({e!r})") from None
        count = math.prod(shape)  # exact: an int64 product of huge dims would wrap to a small size
        if not start <= end or end - start != count * dtype.itemsize:
            raise CheckpointError(f"{label}: corrupt safetensors entry {key!r} (offsets {start}..{end} do not "
                                  f"hold shape {list(shape)} of {dtype})")
        if end > len(body):
            raise CheckpointError(f"{label} is truncated: tensor {key!r} ends at byte {8 + n + end}, the file has "
                                  f"{len(data)}")
        # copy: the loaded arrays own writable memory (a frombuffer view of bytes is read-only)
        a = np.frombuffer(body[start:end], dtype=dtype, count=count).reshape(shape)
        arrays[key] = a.copy() if copy else a
    return metadata, arrays


class _Decoder:
    """The object of a JSON tree written by :class:`_Encoder`."""

    def __init__(self, arrays, place, weights_only: bool):
        self.arrays, self.place, self.weights_only = arrays, place, weights_only
        self.tensors: dict[str, Tensor] = {}
        self.objects: dict[int, object] = {}

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if "tensor" in node:
            return self._tensor(node)
        if "object" in node:
            return self._object(node)
        if len(node) != 1:
            raise ValueError(f"unknown node with keys {sorted(node)}")
        (tag, value), = node.items()
        if tag not in self._TAGS:
            raise ValueError(f"unknown node {tag!r}")
        return self._TAGS[tag](self, value)

    def _tensor(self, node):
        key = node["tensor"]
        if key not in self.tensors:
            a = self.arrays[key]
            want = np_dtype(node["dtype"])
            if a.dtype != want:
                raise ValueError(f"tensor {key} has dtype {a.dtype} in the file, metadata says {node['dtype']}")
            t = self.place(Tensor._make(a, dtype=_dt._by_name(node["dtype"])), node["device"])
            if node.get("requires_grad") and not t.dtype.is_floating_point:
                raise ValueError(f"tensor {key} of dtype {t.dtype.name} is marked requires_grad")
            if node.get("parameter"):
                from ..nn.parameter import Parameter
                t = Parameter(t, requires_grad=bool(node.get("requires_grad")))
            elif node.get("requires_grad"):
                t.requires_grad_(True)
            self.tensors[key] = t
        return self.tensors[key]

    def _object(self, node):
        n = node["id"]
        if type(n) is not int or n in self.objects:
            raise ValueError(f"object id {n!r} is not a new int")
        cls = objtree.resolve(node["object"], self.weights_only)  # UnpicklingError naming a refused class
        obj = self.objects[n] = cls.__new__(cls)  # before its state: the state may refer back to it
        return objtree.fill(obj, self.decode(node["state"]))

    def _items(self, value):
        return [(_key(self.decode(k)), self.decode(v)) for k, v in value]

    def _defaultdict(self, value):
        factory, items = value
        factories = {None: None, "dict": dict, "list": list, "set": set, "int": int, "float": float}
        d = defaultdict(factories[factory])
        d.update(self._items(items))
        return d

    _TAGS = {
        "ndarray": lambda self, v: self.arrays[v],
        "tuple": lambda self, v: tuple(self.decode(x) for x in v),
        "set": lambda self, v: {self.decode(x) for x in v},
        "frozenset": lambda self, v: frozenset(self.decode(x) for x in v),
        "dict": lambda self, v: {k: self.decode(x) for k, x in v.items()},
        "items": lambda self, v: dict(self._items(v)),
        "odict": lambda self, v: OrderedDict(self._items(v)),
        "defaultdict": _defaultdict,
        "dtype": lambda self, v: _dt._by_name(v),
        "device": lambda self, v: _device(_device_str(v, "device")),
        "ref": lambda self, v: self.objects[v],
        "function": lambda self, v: objtree.resolve(v, self.weights_only, want_class=False),
    }


def _key(k):
    if isinstance(k, (list, dict, set)):  # cannot happen for keys we wrote; they are unhashable
        raise TypeError(f"a dict key decoded to a {type(k).__name__}")
    return k
