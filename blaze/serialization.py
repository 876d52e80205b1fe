"""``blaze.save`` / ``blaze.load``: checkpoints that never execute code.

Two formats, chosen by :func:`save`'s ``format`` argument or else the file name:

    ".pt", ".pth", ".bin", ".tar"   PyTorch's zip format (``torch.load`` reads it; see _serialization/)
    anything else, file objects     blaze's format below (safetensors + JSON), the default as before

:func:`load` tells them apart by content and also reads PyTorch's legacy (pre-1.6) files.
Whole objects (Modules, optimizers, schedulers, allow-listed classes) are stored in both as
their class path and ``__dict__`` and rebuilt under PyTorch's ``weights_only`` rules; see
``_serialization/objtree.py`` for what loads with which setting.

A blaze checkpoint is one safetensors file. Every tensor of the saved object is a safetensors
entry under a generated key (``t0``, ``t1``, ...); the rest of the object — nesting, dict
keys of any JSON scalar type, tuples vs lists, ints, floats, strings, dtypes, devices — is
JSON in the safetensors ``__metadata__`` under the key ``"blaze"``. Nothing is pickled, so
loading an untrusted file cannot run code; ``weights_only`` is accepted for PyTorch
compatibility and is always effectively True.

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
dict, a model's Parameter that its optimizer also holds) are stored once and come back as one object; other memory sharing (overlapping or
partial views) is not kept: such tensors are stored separately and load as independent copies.
"""
from __future__ import annotations

import io
import json
import math
import os
import pickle
import re
import secrets
import stat
import zipfile
from collections import OrderedDict, defaultdict

import numpy as np

from . import dtypes as _dt
from .device import device as _device
from ._tensor import Tensor
from ._serialization import objtree, torch_zip
from ._serialization.torch_pickle import np_dtype
from ._serialization.objtree import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals

__all__ = ["save", "load", "CheckpointError", "add_safe_globals", "safe_globals", "get_safe_globals",
           "clear_safe_globals"]

_FORMAT = "blaze-checkpoint"
_VERSION = 1
# safetensors dtype names <-> NumPy dtypes (BF16 through ml_dtypes, which blaze already uses).
_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
              "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "U16": "uint16", "U32": "uint32",
              "U64": "uint64", "BOOL": "bool"}
# A safetensors header is an 8-byte little-endian length and a JSON object; the format caps it
# at 100 MB, and a length beyond that marks a file that is not safetensors at all.
_MAX_HEADER = 100_000_000
_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".tar")


class CheckpointError(RuntimeError):
    """A file that cannot be read as a blaze checkpoint (truncated, corrupt, or another format)."""


# ------------------------------------------------------------------------------- save
def save(obj, f, *, format: str | None = None) -> None:
    """Save ``obj`` to ``f``: state dicts, whole models, optimizers, schedulers, or any tree of them.

    Args:
        obj: e.g. ``{"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}``, or
            ``model`` itself. Nested dicts (also OrderedDict, defaultdict) / lists / tuples / sets,
            numbers, strings, None, tensors, Parameters, dtypes, devices, and objects whose
            state is their ``__dict__`` (Modules, optimizers, schedulers, your own classes):
            stored as class path + attributes, never as code. Functions are refused, except
            blaze's own (``F.relu`` held by a layer), stored by name.
        f: a path (written atomically: a temporary file in the same directory, then
            ``os.replace``; like ``open()`` it writes through a symlink and keeps the mode of
            the file it replaces, and it removes temporaries of earlier saves into that
            directory whose process is gone) or a writable binary file object such as
            ``io.BytesIO``.
        format: ``"torch"`` (PyTorch's zip format, which ``torch.load`` reads) or ``"blaze"``
            (safetensors + JSON). Default: ``"torch"`` for paths ending in .pt / .pth / .bin /
            .tar, ``"blaze"`` otherwise (file objects included).

    Example::

        blaze.save({"model": model.state_dict(), "step": 100}, "ckpt.safetensors")
        blaze.save(model.state_dict(), "model.pt")   # torch.load("model.pt") reads it
    """
    if format is None:
        path = None if hasattr(f, "write") else os.fspath(f)
        format = "torch" if isinstance(path, str) and path.lower().endswith(_TORCH_SUFFIXES) else "blaze"
    if format == "torch":
        data = torch_zip.write_zip(obj)
    elif format == "blaze":
        data = _blaze_bytes(obj)
    else:
        raise ValueError(f"blaze.save: format must be 'torch' or 'blaze', got {format!r}")
    _write(data, f)


def _function(path: str):
    """What a function reference in a blaze-written .pt file names (a layer's ``F.relu``), so that
    ``torch.load(weights_only=False)`` with blaze importable resolves it too."""
    return objtree.resolve(path, weights_only=False, want_class=False)


def _blaze_bytes(obj) -> bytes:
    enc = _Encoder()
    tree = enc.encode(obj, "obj")
    metadata = {"format": _FORMAT, "version": str(_VERSION), "blaze": json.dumps(tree, allow_nan=True)}
    from safetensors.numpy import save as st_save
    return st_save(enc.arrays, metadata=metadata)


def _write(data: bytes, f) -> None:
    if hasattr(f, "write"):
        if isinstance(f, io.TextIOBase):
            raise TypeError("blaze.save: f is a text-mode file; open it in binary mode ('wb')")
        f.write(data)
        return
    # through a symlink, as open() would: replacing the link itself would cut it off its target
    path = os.path.realpath(os.fspath(f))
    directory = os.path.dirname(path)
    _remove_orphaned_temporaries(directory)
    tmp = os.path.join(directory, f".blaze-{os.getpid()}-{secrets.token_hex(6)}.tmp")
    # mode 0o666 less the umask, as open() creates files; an existing file's mode is kept below
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            try:
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
            except FileNotFoundError:
                pass
            _write_all(fh, data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows: readers see the old file or the new one
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_TMP_NAME = re.compile(r"\.blaze-(\d+)-[0-9a-f]{12}\.tmp")


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: an existence check, nothing is sent
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # another user's process, or a pid this OS cannot check: leave its file alone
    return True


def _remove_orphaned_temporaries(directory: str) -> None:
    """Delete temporaries of saves into ``directory`` that were killed (their writer pid is gone)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        m = _TMP_NAME.fullmatch(name)
        if m and not _writer_alive(int(m.group(1))):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass


def _write_all(fh, data: bytes) -> None:
    # one seam for the tests to fail a write half-way (disk full, kill) and check the old file survives
    fh.write(data)


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
        from .nn.parameter import Parameter
        alias = _alias_key(t)
        key = self.seen.get(alias)
        if key is None:
            key = self.seen[alias] = f"t{len(self.arrays)}"
            self.arrays[key] = _c_order(t.detach().cpu().numpy())
        node = {"tensor": key, "dtype": t.dtype.name, "device": str(t.device), "requires_grad": bool(t.requires_grad)}
        if isinstance(t, Parameter):
            node["parameter"] = True
        return node


# ------------------------------------------------------------------------------- load
def load(f, map_location=None, pickle_module=None, *, weights_only: bool | None = None, mmap: bool | None = None,
         **pickle_load_args):
    """Load a checkpoint written by :func:`save` or by PyTorch's ``torch.save`` (zip or legacy format).

    Args:
        f: a path or a readable binary file object.
        map_location: where tensors go: None (the device they were saved from), a device
            or string ("cpu", "cuda"), a dict mapping saved device strings to devices, or a
            callable ``(cpu_tensor, saved_location) -> tensor or None`` (PyTorch passes a
            storage; blaze passes the tensor, so ``lambda storage, loc: storage`` and
            ``lambda s, loc: s.cuda()`` work unchanged).
        pickle_module: accepted for PyTorch compatibility; must be None or ``pickle``.
        weights_only: None or True (PyTorch's default since 2.6): tensors, containers,
            primitives, dtypes, devices and allow-listed classes only. False: also whole
            blaze objects (Modules, optimizers, schedulers, your ``nn.Module`` subclasses).
            Either way nothing from the file is executed; see ``_serialization/objtree.py``.
        mmap: map a file path's tensors into memory (copy-on-write: writes to a loaded tensor never
            reach the file) instead of reading them; a file object raises ValueError, as in PyTorch.

    Raises:
        pickle.UnpicklingError naming a class the file uses that is not allowed, and how to
        allow it. CheckpointError (a RuntimeError) naming the file when it is truncated,
        corrupt or no checkpoint. TypeError / ValueError for a bad ``map_location`` (checked
        before the file is read) or a text-mode file object.

    Example::

        model.load_state_dict(blaze.load("resnet18.pth"))   # a state dict saved by PyTorch
        model = blaze.load("best.pt", weights_only=False)   # a whole model saved by blaze
    """
    place = _placer(_check_map_location(map_location))
    if pickle_module is not None and getattr(pickle_module, "__name__", None) != "pickle":
        raise TypeError("blaze.load: pickle_module is not supported (blaze never unpickles code)")
    weights_only = True if weights_only is None else bool(weights_only)
    name = getattr(f, "name", None) if hasattr(f, "read") else os.fspath(f)
    label = repr(name) if name is not None else f"<{type(f).__name__}>"
    if hasattr(f, "read"):
        if mmap:
            raise ValueError("f must be a file path in order to use the mmap argument")
        data = f.read()
        if isinstance(data, str):
            raise TypeError(f"blaze.load: {label} is a text-mode file; open it in binary mode ('rb')")
        data = bytes(data) if not isinstance(data, bytes) else data
    elif mmap and os.path.getsize(name) > 0:
        data = np.memmap(name, mode="c")  # copy-on-write: tensors are writable, the file never changes
    else:
        with open(name, "rb") as fh:
            data = fh.read()
    head = bytes(data[:16])
    try:
        if torch_zip.is_zip(head):
            mapped = data if isinstance(data, np.memmap) else None
            return torch_zip.read_zip(data if mapped is None else None, label, place, weights_only, mapped)
        if torch_zip.is_legacy(head):
            return torch_zip.read_legacy(bytes(data), label, place, weights_only)
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"{label}: {e}") from None
    except _MapLocationError:
        raise
    except (EOFError, KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError, OSError,
            zipfile.BadZipFile) as e:
        raise CheckpointError(f"{label}: corrupt PyTorch checkpoint ({type(e).__name__}: {e})") from None
    metadata, arrays = _parse(data, label, copy=not isinstance(data, np.memmap))
    if metadata.get("format") != _FORMAT or "blaze" not in metadata:
        raise CheckpointError(f"{label} is a safetensors file but not a blaze checkpoint (no blaze metadata); "
                              "read plain safetensors files with safetensors.numpy.load_file")
    try:
        tree = json.loads(metadata["blaze"])
    except (TypeError, ValueError, RecursionError) as e:  # JSON nested ~1000 deep exhausts the stack
        raise CheckpointError(f"{label}: corrupt blaze checkpoint metadata ({type(e).__name__}: {e})") from None
    try:
        return _Decoder(arrays, place, weights_only).decode(tree)
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"{label}: {e}") from None
    except _MapLocationError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:
        raise CheckpointError(f"{label}: corrupt blaze checkpoint structure ({type(e).__name__}: {e})") from None


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


def _device_str(value, what: str) -> str:
    """``value`` as a canonical device string, or ValueError naming ``what`` held it."""
    try:
        return str(_device(value))
    except (RuntimeError, TypeError, ValueError) as e:
        raise ValueError(f"{what} {value!r} is not a device ({e})") from None


def _check_map_location(map_location):
    """None, a device string, a {saved device: device} dict of strings, or a callable, checked before reading."""
    if map_location is None or callable(map_location) and not isinstance(map_location, _device):
        return map_location
    if isinstance(map_location, dict):
        return {_device_str(k, "blaze.load: map_location key"): _device_str(v, "blaze.load: map_location value")
                for k, v in map_location.items()}
    if not isinstance(map_location, (str, _device)):
        raise TypeError(f"blaze.load: map_location must be None, a device, a string, a dict or a callable, "
                        f"got {type(map_location).__name__}")
    return _device_str(map_location, "blaze.load: map_location")


class _MapLocationError(TypeError):
    """The caller's map_location misbehaved: an argument error, not a corrupt file."""


def _placer(map_location):
    """``place(cpu_tensor, saved_location) -> tensor`` for ``map_location`` (already checked)."""
    def place(t: Tensor, saved: str) -> Tensor:
        saved = _device_str(saved, "saved device")  # a file's "tpu" or "cpu:-1" is corruption, not a device
        if callable(map_location):
            out = map_location(t, saved)
            if out is None:
                out = t if saved == "cpu" else t.to(saved)
            if not isinstance(out, Tensor):
                raise _MapLocationError(f"blaze.load: map_location returned {type(out).__name__}, not a tensor")
            return out
        dev = saved if map_location is None else (
            map_location.get(saved, saved) if isinstance(map_location, dict) else map_location)
        return t if dev == "cpu" else t.to(dev)
    return place


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
                from .nn.parameter import Parameter
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
