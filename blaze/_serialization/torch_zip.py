"""PyTorch's checkpoint containers: the zip format (PyTorch >= 1.6) and the legacy stream before it.

Zip (what ``torch.save`` writes)::

    <name>/data.pkl             the object tree (see torch_pickle); tensors are persistent ids
                                ("storage", torch.FloatStorage, "<key>", "cpu", numel)
    <name>/data/<key>           each storage's raw bytes, uncompressed, aligned to 64 bytes
    <name>/byteorder            "little" or "big"
    <name>/version              "3"; also .format_version "1", .storage_alignment "64"

Legacy (``_use_new_zipfile_serialization=False``): five pickles in a row — the magic number
0x1950a86a20f9469cfc6c, protocol version 1001, a sys-info dict, the object tree (storage ids
carry a sixth field: view metadata), the list of storage keys — then per key an 8-byte
little-endian element count and the raw bytes. The tree comes before the bytes it points at,
so it is unpickled twice: once to find the storages, once with them filled (the tree is
small; the bytes are read once).
"""
from __future__ import annotations

import io
import pickle
import pickletools
import struct
import zipfile

import numpy as np

from . import CheckpointError
from .torch_pickle import FUNCTION_REF, Storage, TorchPickler, TorchUnpickler, np_dtype

_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001
_ALIGN = 64  # torch aligns storages to 64 bytes so they can be mmapped as arrays


def is_zip(head: bytes) -> bool:
    return head[:4] == b"PK\x03\x04"


def is_legacy(head: bytes) -> bool:
    # the magic number pickled at protocol 2: PROTO 2, LONG1 of 10 bytes
    return head[:4] == b"\x80\x02\x8a\x0a" and int.from_bytes(head[4:14], "little") == _LEGACY_MAGIC


def _entry_offset(buf, info: zipfile.ZipInfo) -> int:
    """Where an uncompressed entry's bytes start (after its local header)."""
    name_len, extra_len = struct.unpack("<HH", bytes(buf[info.header_offset + 26:info.header_offset + 30]))
    return info.header_offset + 30 + name_len + extra_len


def read_zip(data, label, place, weights_only, mapped=None):
    """The object tree of a torch zip checkpoint held in ``data`` (bytes, or the file mmapped as ``mapped``)."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data) if mapped is None else _MemoryFile(mapped))
        names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise _error(label, f"not a readable zip archive ({e})") from None
    for info in z.infolist():
        # torch stores entries uncompressed; a compressed one that inflates 1000x is a zip bomb
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > 1000 * max(info.compress_size, 1024):
            raise _error(label, f"zip entry {info.filename!r} inflates from {info.compress_size} to "
                                f"{info.file_size} bytes")
    pkls = [n for n in names if n.endswith("data.pkl") and n.count("/") <= 1]
    if len(pkls) != 1:
        raise _error(label, f"a PyTorch checkpoint has one <name>/data.pkl, this zip has {len(pkls)}")
    prefix = pkls[0][:-len("data.pkl")]
    order = z.read(prefix + "byteorder").decode("ascii", "replace") if prefix + "byteorder" in names else "little"
    if order not in ("little", "big"):
        raise _error(label, f"byteorder {order!r} is neither 'little' nor 'big'")
    storages: dict[str, Storage] = {}

    def load_storage(dtype, key, location, numel, view):
        if view is not None:
            raise pickle.UnpicklingError("storage views appear only in legacy checkpoints")
        if key not in storages:
            name = f"{prefix}data/{key}"
            if name not in names:
                raise pickle.UnpicklingError(f"storage {key!r} is missing from the archive")
            dt = np_dtype(dtype)
            info = z.getinfo(name)
            if info.file_size != numel * dt.itemsize:
                raise pickle.UnpicklingError(f"storage {key!r} holds {info.file_size} bytes, its id says {numel} "
                                             f"elements of {dtype}")
            if mapped is not None and info.compress_type == zipfile.ZIP_STORED:
                start = _entry_offset(mapped, info)
                a = mapped[start:start + info.file_size].view(dt)
            else:
                a = np.frombuffer(bytearray(z.read(name)), dt)  # bytearray: a writable buffer, no extra copy
            if order == "big" and dt.itemsize > 1:
                a = a.byteswap().view(dt)
            storages[key] = Storage(a, location)
        return storages[key]

    return TorchUnpickler(io.BytesIO(z.read(pkls[0])), load_storage, place, weights_only).load()


class _MemoryFile(io.RawIOBase):
    """A seekable read-only file over an mmapped array, for zipfile."""

    def __init__(self, buf):
        self._b, self._pos = memoryview(buf).cast("B"), 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, pos, whence=0):
        self._pos = [pos, self._pos + pos, len(self._b) + pos][whence]
        return self._pos

    def tell(self):
        return self._pos

    def readinto(self, out):
        n = max(0, min(len(out), len(self._b) - self._pos))
        out[:n] = self._b[self._pos:self._pos + n]
        self._pos += n
        return n


def read_legacy(data: bytes, label, place, weights_only):
    f = io.BytesIO(data)
    for want in (_LEGACY_MAGIC, _LEGACY_PROTOCOL):
        if _plain_load(f) != want:
            raise _error(label, "corrupt legacy PyTorch checkpoint header")
    _plain_load(f)  # sys info: {"protocol_version", "little_endian", "type_sizes"}
    start = f.tell()
    storages: dict[str, Storage] = {}

    def load_storage(dtype, key, location, numel, view):
        if key not in storages:
            if numel * np_dtype(dtype).itemsize > len(data):  # checked before allocating what the file claims
                raise pickle.UnpicklingError(f"storage {key!r} claims {numel} elements of {dtype}, more than the "
                                             f"file's {len(data)} bytes")
            storages[key] = Storage(np.zeros(numel, np_dtype(dtype)), location)
        root = storages[key]
        if view is None:
            return root
        view_key, offset, size = view
        if not (type(offset) is int and type(size) is int and 0 <= offset and offset + size <= root.array.size):
            raise pickle.UnpicklingError(f"storage view {view!r:.60} outside its storage")
        return Storage(root.array[offset:offset + size], location)

    TorchUnpickler(f, load_storage, lambda t, loc: t, weights_only).load()
    end = f.tell()
    keys = _plain_load(f)
    if not isinstance(keys, list) or set(keys) != set(storages):
        raise _error(label, "the legacy storage key list does not match the storages the tree uses")
    for key in keys:
        a = storages[key].array
        head = f.read(8)
        numel = int.from_bytes(head, "little") if len(head) == 8 else -1
        raw = f.read(a.nbytes)
        if numel != a.size or len(raw) != a.nbytes:
            raise _error(label, f"storage {key!r} is truncated or has the wrong size")
        a[...] = np.frombuffer(raw, a.dtype)
    # second pass: the same tree over the filled storages, now placed where map_location says
    return TorchUnpickler(io.BytesIO(data[start:end]), load_storage, place, weights_only).load()


def pickle_globals(data, label) -> set[str]:
    """Every global a torch checkpoint's pickles name that the restricted unpickler does not map
    itself (read with pickletools, nothing is unpickled)."""
    if is_zip(bytes(data[:4])):
        try:
            z = zipfile.ZipFile(io.BytesIO(bytes(data)))
            streams = [z.read(n) for n in z.namelist() if n.endswith("data.pkl")]
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise _error(label, f"not a readable zip archive ({e})") from None
    else:
        f = io.BytesIO(bytes(data))
        streams = []
        for _ in range(4):  # magic, protocol, sys info, the tree; the key list and bytes follow
            start = f.tell()
            for _op in pickletools.genops(f):
                pass
            streams.append(bytes(data[start:f.tell()]))
    known = TorchUnpickler.known_globals()
    found = set()
    try:
        for s in streams:
            found |= {g for g in _globals_of(s) if g not in known}
    except (ValueError, IndexError) as e:
        raise _error(label, f"unreadable pickle ({e})") from None
    return found


def _globals_of(stream: bytes):
    """The module.name of every GLOBAL / INST / STACK_GLOBAL in one pickle (a protocol-4 torch.save
    pushes the two names as strings, maybe memoized, right before STACK_GLOBAL)."""
    pushed, memo, function_ref = [], {}, False
    for op, arg, _ in pickletools.genops(stream):
        if op.name in ("GLOBAL", "INST"):
            yield arg.replace(" ", ".", 1)
            # blaze writes a function reference as _FUNCTION_REF("module.name"): the next string
            function_ref = arg.replace(" ", ".", 1) == FUNCTION_REF
        elif op.name == "STACK_GLOBAL":
            yield f"{pushed[-2]}.{pushed[-1]}"
        elif "UNICODE" in op.name:
            pushed.append(arg)
            if function_ref:
                yield arg
                function_ref = False
        elif op.name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(arg))
        elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        else:
            pushed.append(None)


def _plain_load(f):
    """One of the legacy stream's header pickles: plain data only, every global refused."""
    return _NoGlobals(f).load()


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"Unsupported global: GLOBAL {module}.{name} in a legacy checkpoint header")


def _error(label, why):
    return CheckpointError(f"{label}: {why}")


# ------------------------------------------------------------------------------- writing
def write_zip(obj, archive: str = "archive") -> bytes:
    """``obj`` as a torch zip checkpoint (the bytes ``torch.save`` would write, up to the pickle's memo numbering)."""
    p = TorchPickler()
    pkl = p.dumps(obj)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        def add(name, payload):
            info = zipfile.ZipInfo(f"{archive}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            # pad the local header's extra field so the bytes start on a 64-byte boundary, as torch does
            fixed = out.tell() + 30 + len(info.filename.encode("utf-8")) + 4
            info.extra = b"FB" + struct.pack("<H", -fixed % _ALIGN) + b"\0" * (-fixed % _ALIGN)
            z.writestr(info, payload)
        add("data.pkl", pkl)
        add(".format_version", b"1")
        add(".storage_alignment", str(_ALIGN).encode())
        add("byteorder", b"little")
        for key, a in p.storages.items():
            add(f"data/{key}", a.tobytes())
        add("version", b"3\n")
    return out.getvalue()
