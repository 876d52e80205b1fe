"""The on-disk autotuning cache and the run-time lookup that ``config_for`` consults.

File: ``<cache_dir>/autotune.json`` (``~/.cache/blaze`` unless ``BLAZE_CACHE_DIR`` is set)::

    {"format": 1, "entries": {"<key>": {"kernel": ..., "config": {...}, "time_ms": ..., ...}}}

An entry's key joins six parts, so a config is never reused where it was not measured:

- kernel name (``matmul``);
- kernel source hash: sha256 of the kernel module's source file (first 12 hex digits), so
  editing a kernel invalidates its tuned configs;
- shape bucket: each integer problem dim rounded UP to the next power of two (M=3000 and
  M=4096 share bucket 4096; M=1 -> 1), except geometry that changes the kernel itself,
  which stays exact (head dim ``D``, conv ``KH KW SH SW PH PW DH DW groups``); strings,
  booleans and floats (``causal``, ``which``, ``op``, ``layout``) stay exact;
- dtype;
- device name (``NVIDIA H100 80GB HBM3``, or ``triton-interpreter (cpu)``);
- Triton version.

Writes are atomic (temporary file in the same directory + ``os.replace``). A cache that
cannot be read or parsed is reported once with a warning and treated as empty; it never
stops a program, and the next write keeps it as ``autotune.json.corrupt``. Each entry's
config is checked against its kernel's space (``registry.config_error``) before use and on
import; an invalid entry is ignored with one warning naming the file and key.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
import tempfile
import threading
import time
import warnings

from blaze import _env
from blaze.kernels import registry

FORMAT = 1
FILENAME = "autotune.json"
# Dims that select a different kernel instantiation (or change which configs are even valid)
# are matched exactly instead of by power-of-two bucket.
EXACT_KEYS = frozenset({"D", "KH", "KW", "SH", "SW", "PH", "PW", "DH", "DW", "groups"})
INTERPRETER_DEVICE = "triton-interpreter (cpu)"

_lock = threading.RLock()
_state = {"store": None, "memo": {}, "warned": set(), "tuning": False}
_source_hash_memo: dict[str, str] = {}
_device_memo: list = []


# ---------------------------------------------------------------------------------------
# key parts
# ---------------------------------------------------------------------------------------
def cache_path() -> str:
    """Path of the autotune cache file (``BLAZE_CACHE_DIR`` overrides the directory)."""
    return os.path.join(_env.cache_dir(), FILENAME)


def bucket(problem: dict, keys=None) -> dict:
    """The shape bucket of ``problem`` (see the module docstring); ``dtype`` is left out.

    >>> bucket({"M": 3000, "N": 1, "K": 4096, "dtype": "bfloat16"})
    {'K': 4096, 'M': 4096, 'N': 1}
    """
    names = [k for k in (keys or sorted(problem)) if k in problem and k != "dtype"]
    out = {}
    for k in sorted(names):
        v = problem[k]
        if isinstance(v, int) and not isinstance(v, bool) and k not in EXACT_KEYS:
            v = 1 if v <= 1 else 1 << (v - 1).bit_length()
        out[k] = v
    return out


def source_hash(tunable) -> str:
    """sha256 (12 hex digits) of the source file of the module that defines ``tunable``."""
    fn = tunable.make_problem or tunable.heuristic
    mod = sys.modules.get(getattr(fn, "__module__", ""), None)
    path = getattr(mod, "__file__", None) or inspect.getsourcefile(fn)
    h = _source_hash_memo.get(path)
    if h is None:
        with open(path, "rb") as f:
            h = _source_hash_memo[path] = hashlib.sha256(f.read()).hexdigest()[:12]
    return h


def device_name() -> str:
    """Name of the GPU kernels run on, or ``triton-interpreter (cpu)`` without one."""
    if not _device_memo:
        from blaze.tuning.timer import gpu_available
        name = INTERPRETER_DEVICE
        if gpu_available():
            import blaze.cuda
            name = blaze.cuda.get_device_name()
        _device_memo.append(name)
    return _device_memo[0]


def triton_version() -> str:
    import triton
    return triton.__version__


def make_key(name: str, problem: dict, tunable=None) -> tuple[str, dict]:
    """(key string, its parts) for ``problem`` of kernel ``name`` on this device."""
    from blaze.kernels.registry import _REGISTRY
    t = tunable or _REGISTRY.get(name)
    if t is None:
        from blaze.tuning.tuner import get_tunable  # imports the kernel modules, or names the known ones
        t = get_tunable(name)
    parts = dict(kernel=name, source_hash=source_hash(t), bucket=bucket(problem, t.problem_keys or None),
                 dtype=str(problem.get("dtype", "")), device=device_name(), triton=triton_version())
    shape = ",".join(f"{k}={v}" for k, v in parts["bucket"].items())
    key = "|".join([name, parts["source_hash"], shape, parts["dtype"], parts["device"], "triton " + parts["triton"]])
    return key, parts


# ---------------------------------------------------------------------------------------
# the file
# ---------------------------------------------------------------------------------------
def _warn_once(path: str, reason: str) -> None:
    if path in _state["warned"]:
        return
    _state["warned"].add(path)
    warnings.warn(f"blaze: ignoring unreadable autotune cache {path}: {reason} "
                  f"(heuristic configs are used; 'blaze tune clear' removes it)", RuntimeWarning, stacklevel=3)


def read_entries(path: str | None = None, strict: bool = False) -> dict:
    """The entries of the cache file at ``path`` ({} if absent).

    A corrupt file warns once and reads as empty, or raises ``ValueError`` if ``strict``.
    """
    path = path or cache_path()
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        if strict:
            raise ValueError(f"{path}: no such file") from None
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        if strict:
            raise ValueError(f"{path}: not a blaze autotune cache ({e})") from None
        _warn_once(path, str(e))
        return {}
    if not isinstance(data, dict):
        data = {"format": f"a JSON {type(data).__name__}"}
    entries = data.get("entries")
    bad = None
    if data.get("format") != FORMAT:
        bad = f"unknown format {data.get('format')!r}"
    elif not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
        bad = "'entries' is not a mapping of entries"  # each entry's config is checked on use (_entry_ok)
    if bad:
        if strict:
            raise ValueError(f"{path}: not a blaze autotune cache ({bad})")
        _warn_once(path, bad)
        return {}
    return entries


def write_entries(entries: dict, path: str | None = None) -> None:
    """Write ``entries`` atomically: a temporary file in the same directory, then os.replace."""
    path = path or cache_path()
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".autotune.", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"format": FORMAT, "entries": entries}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache is no secret
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_for_update(path: str) -> dict:
    """The entries of ``path`` before a write; a corrupt file is kept as ``<path>.corrupt``."""
    try:
        return read_entries(path, strict=True)
    except ValueError as e:
        if not os.path.exists(path):
            return {}
        os.replace(path, path + ".corrupt")  # keep the unreadable file for a post-mortem
        _warn_once(path, f"{e}; kept as {path}.corrupt")
        return {}


def _entry_ok(path: str, key: str, entry: dict, imported: bool = False) -> bool:
    """Whether ``entry`` names a known kernel and a config in its space; warns once per key if not.

    Cache files are untrusted: a config of BLOCK_M=-16 launches zero programs and leaves the
    output unwritten, a missing or string meta-parameter breaks every launch of that shape.
    """
    from blaze.tuning.tuner import get_tunable
    name = entry.get("kernel")
    try:
        if not isinstance(name, str) or key.split("|")[0] != name:
            raise ValueError(f"its kernel {name!r} does not match the key")
        why = registry.config_error(get_tunable(name), entry.get("config"))
    except ValueError as e:
        why = str(e)
    if why is None:
        return True
    tag = f"entry:{path}:{key}"
    if imported or tag not in _state["warned"]:
        _state["warned"].add(tag)
        warnings.warn(f"blaze: ignoring autotune cache entry {key!r} in {path}: {why}", RuntimeWarning, stacklevel=3)
    return False


def _entries() -> dict:
    if _state["store"] is None:
        _state["store"] = read_entries()
    return _state["store"]


def reset() -> None:
    """Forget the in-memory copy of the cache (re-read on next use, e.g. after BLAZE_CACHE_DIR changes)."""
    with _lock:
        _state["store"] = None
        _state["memo"].clear()
        _state["warned"].clear()
        _device_memo.clear()
        _source_hash_memo.clear()


def put(name: str, problem: dict, config: dict, **info) -> str:
    """Store ``config`` as the tuned config of ``problem``; returns the entry's key.

    Merges with the file's current content (another process may have written since).
    """
    key, parts = make_key(name, problem)
    with _lock:
        path = cache_path()
        entries = _read_for_update(path)
        entries[key] = dict(parts, problem=problem, config=dict(config), tuned_at=time.strftime("%Y-%m-%d %H:%M:%S"),
                            **info)
        write_entries(entries, path)
        _state["store"] = entries
        _state["memo"].clear()
    return key


def clear() -> int:
    """Delete the cache file; returns how many entries it held."""
    with _lock:
        path = cache_path()
        n = len(read_entries(path)) if os.path.exists(path) else 0
        if os.path.exists(path):
            os.unlink(path)
        _state["store"] = None
        _state["memo"].clear()
    return n


def export(dest: str) -> int:
    """Copy the cache's entries to ``dest`` (same format); returns the entry count."""
    entries = read_entries(strict=os.path.exists(cache_path()))
    write_entries(entries, dest)
    return len(entries)


def import_(src: str) -> int:
    """Merge the valid entries of ``src`` into the cache (``src`` wins on equal keys); returns how many.

    Each entry is checked against its kernel's config space; invalid ones are skipped with a
    warning naming ``src`` and the key.
    """
    new = {k: e for k, e in read_entries(src, strict=True).items() if _entry_ok(src, k, e, imported=True)}
    with _lock:
        entries = _read_for_update(cache_path())
        entries.update(new)
        write_entries(entries)
        _state["store"] = entries
        _state["memo"].clear()
    return len(new)


# ---------------------------------------------------------------------------------------
# run-time lookup (installed into blaze.kernels.registry on the first config_for call)
# ---------------------------------------------------------------------------------------
def lookup(name: str, problem: dict) -> dict | None:
    """The cached config for ``problem``, else None (or, with BLAZE_AUTOTUNE=1, tune it now)."""
    try:
        memo_key = (name, tuple(problem.items()))
        hit = _state["memo"].get(memo_key, False)
    except TypeError:  # an unhashable problem value: no memo
        memo_key, hit = None, False
    if hit is not False:
        return dict(hit) if hit is not None else None
    try:
        key, _ = make_key(name, problem)
        entry = _entries().get(key)
        cfg = dict(entry["config"]) if entry and _entry_ok(cache_path(), key, entry) else None
    except Exception as e:  # never let the cache break a launch: fall back to the heuristic
        _warn_once(f"lookup:{name}", f"{type(e).__name__}: {e}")
        cfg = None
    if cfg is None and _env.autotune_on_first_use() and not _state["tuning"]:
        cfg = _tune_now(name, problem)
    if memo_key is not None:
        _state["memo"][memo_key] = cfg
    return dict(cfg) if cfg is not None else None


def _tune_now(name: str, problem: dict) -> dict | None:
    from blaze.tuning.tuner import tune
    try:
        res = tune(name, problem)
    except Exception as e:  # a failed tune falls back to the heuristic
        _warn_once(f"autotune:{name}", f"BLAZE_AUTOTUNE=1 could not tune {name} {problem}: {e}")
        return None
    return res.best


def install() -> None:
    """Point ``blaze.kernels.registry`` at :func:`lookup` (idempotent)."""
    from blaze.kernels import registry
    registry._cache_lookup = lookup
