"""``blaze.save`` / ``blaze.load``: checkpoints that never execute code.

A checkpoint is one safetensors file. Every tensor of the saved object is a safetensors
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

Tensors are stored contiguous, on the CPU (cuda tensors via ``.cpu()``). Tensors over exactly
the same memory, shape, strides and dtype (one tensor saved twice, tied weights in a state
dict) are stored once and come back as one object; other memory sharing (overlapping or
partial views) is not kept: such tensors are stored separately and load as independent copies.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import secrets
import stat

import numpy as np

from . import dtypes as _dt
from .device import device as _device
from ._tensor import Tensor

__all__ = ["save", "load", "CheckpointError"]

_FORMAT = "blaze-checkpoint"
_VERSION = 1
# safetensors dtype names <-> NumPy dtypes (BF16 through ml_dtypes, which blaze already uses).
_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
              "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "U16": "uint16", "U32": "uint32",
              "U64": "uint64", "BOOL": "bool"}
# A safetensors header is an 8-byte little-endian length and a JSON object; the format caps it
# at 100 MB, and a length beyond that marks a file that is not safetensors at all.
_MAX_HEADER = 100_000_000


class CheckpointError(RuntimeError):
    """A file that cannot be read as a blaze checkpoint (truncated, corrupt, or another format)."""


def _np_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        return _dt.bfloat16.np
    return np.dtype(name)


# ------------------------------------------------------------------------------- save
def save(obj, f) -> None:
    """Save ``obj`` (nested dicts / lists / tuples / scalars / strings / None / tensors) to ``f``.

    Args:
        obj: e.g. ``{"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 3}``.
        f: a path (written atomically: a temporary file in the same directory, then
            ``os.replace``; like ``open()`` it writes through a symlink and keeps the mode of
            the file it replaces, and it removes temporaries of earlier saves into that
            directory whose process is gone) or a writable binary file object such as
            ``io.BytesIO``.

    Example::

        blaze.save({"model": model.state_dict(), "step": 100}, "ckpt.safetensors")
    """
    arrays: dict[str, np.ndarray] = {}
    seen: dict[int, str] = {}
    tree = _encode(obj, arrays, seen, "obj")
    metadata = {"format": _FORMAT, "version": str(_VERSION), "blaze": json.dumps(tree, allow_nan=True)}
    from safetensors.numpy import save as st_save
    data = st_save(arrays, metadata=metadata)
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
    """Tensors over exactly the same memory, shape, strides and dtype (the same tensor twice, tied
    weights whose state_dict entries are separate detached tensors) are stored once."""
    a = t._data
    if isinstance(a, np.ndarray):
        ptr = a.__array_interface__["data"][0]
    else:
        ptr = a.data_ptr() if hasattr(a, "data_ptr") else id(a)
    return (str(t._device), ptr, tuple(a.shape), tuple(getattr(a, "strides", ())), t._dtype.name,
            bool(t.requires_grad))


def _encode(obj, arrays, seen, where):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Tensor):
        alias = _alias_key(obj)
        key = seen.get(alias)
        if key is None:
            key = seen[alias] = f"t{len(arrays)}"
            arrays[key] = _c_order(obj.detach().cpu().numpy())
        return {"tensor": key, "dtype": obj.dtype.name, "device": str(obj.device),
                "requires_grad": bool(obj.requires_grad)}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf" and str(obj.dtype) != "bfloat16":
            raise TypeError(f"blaze.save: cannot save a NumPy array of dtype {obj.dtype} (at {where})")
        key = f"t{len(arrays)}"
        arrays[key] = _c_order(obj)
        return {"ndarray": key}
    if isinstance(obj, list):
        return [_encode(v, arrays, seen, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, tuple):
        return {"tuple": [_encode(v, arrays, seen, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, dict):
        if all(type(k) is str for k in obj):
            return {"dict": {k: _encode(v, arrays, seen, f"{where}[{k!r}]") for k, v in obj.items()}}
        items = []
        for k, v in obj.items():
            if not (k is None or isinstance(k, (bool, int, float, str, tuple, np.integer))):
                raise TypeError(f"blaze.save: dict keys must be str, int, float, bool, None or tuples of "
                                f"them, got {type(k).__name__} (at {where})")
            items.append([_encode(k, arrays, seen, where), _encode(v, arrays, seen, f"{where}[{k!r}]")])
        return {"items": items}
    if isinstance(obj, _dt.dtype):
        return {"dtype": obj.name}
    if isinstance(obj, _device):
        return {"device": str(obj)}
    raise TypeError(f"blaze.save: cannot save an object of type {type(obj).__name__} (at {where}); "
                    "checkpoints hold tensors, numbers, strings, None, lists, tuples and dicts only")


# ------------------------------------------------------------------------------- load
def load(f, map_location=None, weights_only: bool = True, **kwargs):
    """Load an object saved by :func:`save`.

    Args:
        f: a path or a readable binary file object.
        map_location: where tensors go: None (the device they were saved from), a device
            or string ("cpu", "cuda"), or a dict mapping saved device strings to devices.
        weights_only: accepted for PyTorch compatibility; loading never runs code either way.

    Raises:
        CheckpointError (a RuntimeError) naming the file when it is truncated, corrupt or not a
        blaze checkpoint. TypeError / ValueError for a bad ``map_location`` (checked before
        the file is read) or a text-mode file object.
    """
    map_location = _check_map_location(map_location)
    name = getattr(f, "name", None) if hasattr(f, "read") else os.fspath(f)
    label = repr(name) if name is not None else f"<{type(f).__name__}>"
    if hasattr(f, "read"):
        data = f.read()
        if isinstance(data, str):
            raise TypeError(f"blaze.load: {label} is a text-mode file; open it in binary mode ('rb')")
    else:
        with open(name, "rb") as fh:
            data = fh.read()
    metadata, arrays = _parse(bytes(data) if not isinstance(data, bytes) else data, label)
    if metadata.get("format") != _FORMAT or "blaze" not in metadata:
        raise CheckpointError(f"{label} is a safetensors file but not a blaze checkpoint (no blaze metadata); "
                              "read plain safetensors files with safetensors.numpy.load_file")
    try:
        tree = json.loads(metadata["blaze"])
    except (TypeError, ValueError, RecursionError) as e:  # JSON nested ~1000 deep exhausts the stack
        raise CheckpointError(f"{label}: corrupt blaze checkpoint metadata ({type(e).__name__}: {e})") from None
    built: dict[str, Tensor] = {}
    try:
        return _decode(tree, arrays, built, map_location)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:
        raise CheckpointError(f"{label}: corrupt blaze checkpoint structure ({type(e).__name__}: {e})") from None


def _parse(data: bytes, label: str):
    """Read a safetensors buffer: (metadata dict, {key: numpy array}), with checks that name the file."""
    if len(data) < 8:
        raise CheckpointError(f"{label} is not a blaze checkpoint: {len(data)} bytes is shorter than a "
                              "safetensors header (truncated or empty file?)")
    n = int.from_bytes(data[:8], "little")
    if n > _MAX_HEADER:
        raise CheckpointError(f"{label} is not a blaze checkpoint (not a safetensors file: header length {n})")
    if 8 + n > len(data):
        raise CheckpointError(f"{label} is truncated: the header needs {8 + n} bytes, the file has {len(data)}")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
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
            dtype = _np_dtype(_ST_DTYPES[info["dtype"]])
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
        arrays[key] = np.frombuffer(body[start:end], dtype=dtype, count=count).reshape(shape).copy()
    return metadata, arrays


def _device_str(value, what: str) -> str:
    """``value`` as a canonical device string, or ValueError naming ``what`` held it."""
    try:
        return str(_device(value))
    except (RuntimeError, TypeError, ValueError) as e:
        raise ValueError(f"{what} {value!r} is not a device ({e})") from None


def _check_map_location(map_location):
    """None, a device string, or a {saved device: device} dict of strings, checked before reading."""
    if map_location is None:
        return None
    if isinstance(map_location, dict):
        return {_device_str(k, "blaze.load: map_location key"): _device_str(v, "blaze.load: map_location value")
                for k, v in map_location.items()}
    if not isinstance(map_location, (str, _device)):
        raise TypeError(f"blaze.load: map_location must be None, a device, a string or a dict, "
                        f"got {type(map_location).__name__}")
    return _device_str(map_location, "blaze.load: map_location")


def _target_device(saved, map_location):
    saved = _device_str(saved, "saved device")  # a file's "tpu" or "cpu:-1" is corruption, not a device
    if map_location is None:
        return saved
    if isinstance(map_location, dict):
        return map_location.get(saved, saved)
    return map_location


def _decode(node, arrays, built, map_location):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(v, arrays, built, map_location) for v in node]
    if "tensor" in node:
        key = node["tensor"]
        if key not in built:
            a = arrays[key]
            want = _np_dtype(node["dtype"])
            if a.dtype != want:
                raise ValueError(f"tensor {key} has dtype {a.dtype} in the file, metadata says {node['dtype']}")
            t = Tensor._make(a, dtype=_dt._by_name(node["dtype"]))
            dev = _target_device(node["device"], map_location)
            if dev != "cpu":
                t = t.to(dev)
            if node.get("requires_grad"):
                if not t.dtype.is_floating_point:
                    raise ValueError(f"tensor {key} of dtype {t.dtype.name} is marked requires_grad")
                t.requires_grad_(True)
            built[key] = t
        return built[key]
    if len(node) != 1:
        raise ValueError(f"unknown node with keys {sorted(node)}")
    (tag, value), = node.items()
    if tag == "ndarray":
        return arrays[value]
    if tag == "tuple":
        return tuple(_decode(v, arrays, built, map_location) for v in value)
    if tag == "dict":
        return {k: _decode(v, arrays, built, map_location) for k, v in value.items()}
    if tag == "items":
        return {_key(_decode(k, arrays, built, map_location)): _decode(v, arrays, built, map_location)
                for k, v in value}
    if tag == "dtype":
        return _dt._by_name(value)
    if tag == "device":
        return _device(_device_str(value, "device"))
    raise ValueError(f"unknown node {tag!r}")


def _key(k):
    if isinstance(k, list):  # cannot happen for keys we wrote; a list is unhashable
        raise TypeError("a dict key decoded to a list")
    return k
