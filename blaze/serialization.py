"""``blaze.save`` / ``blaze.load``: checkpoints that never execute code.

Two formats, chosen by :func:`save`'s ``format`` argument or else the file name:

    ".pt", ".pth", ".bin", ".tar"   PyTorch's zip format (``torch.load`` reads it; see _serialization/)
    anything else, file objects     blaze's format below (safetensors + JSON), the default as before

:func:`load` tells them apart by content and also reads PyTorch's legacy (pre-1.6) files.
Whole objects (Modules, optimizers, schedulers, allow-listed classes) are stored in both as
their class path and ``__dict__`` and rebuilt under PyTorch's ``weights_only`` rules; see
``_serialization/objtree.py`` for what loads with which setting.

The blaze format (safetensors + a JSON tree) is described in ``_serialization/blaze_format.py``.
"""
from __future__ import annotations

import io
import os
import pickle
import re
import secrets
import stat
import warnings
import zipfile

import numpy as np

from . import _env
from .device import device as _device
from ._tensor import Tensor
from ._serialization import CheckpointError, MapLocationError, blaze_format, objtree, torch_zip
from ._serialization import device_str as _device_str
from ._serialization.objtree import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals

__all__ = ["save", "load", "CheckpointError", "add_safe_globals", "safe_globals", "get_safe_globals",
           "clear_safe_globals", "get_unsafe_globals_in_checkpoint"]

_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".tar")


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
        data = blaze_format.to_bytes(obj)
    else:
        raise ValueError(f"blaze.save: format must be 'torch' or 'blaze', got {format!r}")
    _write(data, f)


def _function(path: str):
    """What a function reference in a blaze-written .pt file names (a layer's ``F.relu``), so that
    ``torch.load(weights_only=False)`` with blaze importable resolves it too."""
    return objtree.resolve(path, weights_only=False, want_class=False)


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


# ------------------------------------------------------------------------------- load
def _weights_only(weights_only: bool | None) -> bool:
    override = _env.weights_only_override()
    if override == "force":
        return True
    if weights_only is None:
        if override == "default_off":
            warnings.warn("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set: blaze.load uses weights_only=False "
                          "(whole blaze objects and your nn.Module subclasses are rebuilt; nothing is executed)",
                          UserWarning, stacklevel=3)
            return False
        return True
    return bool(weights_only)


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
    weights_only = _weights_only(weights_only)
    data, label = _read(f, mmap)
    head = bytes(data[:16])
    try:
        if torch_zip.is_zip(head):
            mapped = data if isinstance(data, np.memmap) else None
            return torch_zip.read_zip(data if mapped is None else None, label, place, weights_only, mapped)
        if torch_zip.is_legacy(head):
            return torch_zip.read_legacy(bytes(data), label, place, weights_only)
        return blaze_format.from_bytes(data, label, place, weights_only, copy=not isinstance(data, np.memmap))
    except pickle.UnpicklingError as e:  # a refused global, or a torch pickle that does not parse
        raise pickle.UnpicklingError(f"{label}: {e}") from None
    except (CheckpointError, MapLocationError):
        raise
    except (EOFError, KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError, OSError,
            zipfile.BadZipFile) as e:
        kind = "PyTorch" if torch_zip.is_zip(head) or torch_zip.is_legacy(head) else "blaze"
        raise CheckpointError(f"{label}: corrupt {kind} checkpoint structure ({type(e).__name__}: {e})") from None


def _read(f, mmap=None):
    """(the file's bytes, or its copy-on-write mmap; a label naming it in errors)."""
    name = getattr(f, "name", None) if hasattr(f, "read") else os.fspath(f)
    label = repr(name) if name is not None else f"<{type(f).__name__}>"
    if hasattr(f, "read"):
        if mmap:
            raise ValueError("f must be a file path in order to use the mmap argument")
        data = f.read()
        if isinstance(data, str):
            raise TypeError(f"blaze.load: {label} is a text-mode file; open it in binary mode ('rb')")
        return (bytes(data) if not isinstance(data, bytes) else data), label
    if mmap and os.path.getsize(name) > 0:
        return np.memmap(name, mode="c"), label  # copy-on-write: tensors are writable, the file never changes
    with open(name, "rb") as fh:
        return fh.read(), label


def get_unsafe_globals_in_checkpoint(f) -> list[str]:
    """The classes and functions a checkpoint names that ``weights_only=True`` would refuse (PyTorch's
    function of that name): candidates for :func:`add_safe_globals`. Reads the file; runs nothing.

    Example::

        >>> blaze.serialization.get_unsafe_globals_in_checkpoint("best.pt")
        ['__main__.Net', 'blaze.nn.modules.linear.Linear']
    """
    data, label = _read(f)
    head = bytes(data[:16])
    if torch_zip.is_zip(head) or torch_zip.is_legacy(head):
        names = torch_zip.pickle_globals(data, label)
    else:
        names = blaze_format.tree_globals(data, label)
    return sorted(n for n in names if n not in objtree._USER_SAFE)


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


def _placer(map_location):
    """``place(cpu_tensor, saved_location) -> tensor`` for ``map_location`` (already checked)."""
    def place(t: Tensor, saved: str) -> Tensor:
        saved = _device_str(saved, "saved device")  # a file's "tpu" or "cpu:-1" is corruption, not a device
        if callable(map_location):
            out = map_location(t, saved)
            if out is None:
                out = t if saved == "cpu" else t.to(saved)
            if not isinstance(out, Tensor):
                raise MapLocationError(f"blaze.load: map_location returned {type(out).__name__}, not a tensor")
            return out
        dev = saved if map_location is None else (
            map_location.get(saved, saved) if isinstance(map_location, dict) else map_location)
        return t if dev == "cpu" else t.to(dev)
    return place


