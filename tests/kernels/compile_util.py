"""Compile blaze's Triton kernels for a real GPU (sm_90) on a machine without one.

The interpreter (TRITON_INTERPRET=1) accepts code the GPU compiler rejects: non-constexpr
globals, loop-carried type changes, dots on unsupported shapes, ptxas limits. Compiling to
PTX and cubin needs no GPU, only Triton's bundled NVIDIA backend (ptxas ships in the wheel),
so these helpers compile in a child process with TRITON_INTERPRET unset.

Two entry points:

* :func:`compile_kernel` compiles one kernel for an explicit signature and constexprs.
* :func:`run_compile_only` runs launcher code in the child with launches turned into
  compiles: a stand-in driver reports ``GPUTarget("cuda", 90, 32)`` and every
  ``kernel[grid](...)`` goes through Triton's own binder (the exact specialization a GPU
  run would see: ints equal to 1 become constants, 16-byte-aligned pointers are marked) and
  compiles with ``warmup=True`` instead of launching. Nothing is read back, so launchers
  must not depend on kernel results between launches.

In the child, :func:`compile_only` is the context manager doing the patching; it records one
entry per distinct specialization. With ``stats=True`` each record also carries what ptxas
reported for the cubin (registers, spill bytes) and what the PTX holds (shared memory, MMA
family), see :func:`kernel_stats`.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SM90 = (90, 32)  # Hopper: compute capability 9.0, warp size 32
_MARK = "@@COMPILE_RESULTS@@"


class CompileError(AssertionError):
    """One or more kernels failed to compile for the GPU target."""


def cuda_compile_unavailable() -> str | None:
    """Why this platform cannot compile Triton for CUDA at all, or None if it can.

    Only a missing Triton / NVIDIA backend / bundled ptxas counts; a kernel's own compile error
    is never a reason to skip.
    """
    if importlib.util.find_spec("triton") is None:
        return "Triton is not installed"
    try:
        spec = importlib.util.find_spec("triton.backends.nvidia")
    except ImportError:
        spec = None
    if spec is None:
        return "Triton was built without the NVIDIA backend"
    bin_dir = os.path.join(os.path.dirname(spec.origin), "bin")
    if not os.path.exists(os.path.join(bin_dir, "ptxas")) and not os.environ.get("TRITON_PTXAS_PATH"):
        return f"no ptxas in {bin_dir} (and TRITON_PTXAS_PATH unset)"
    return None


def _child_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    # An empty blaze cache dir: launchers must pick their heuristic configs, not tuned ones.
    env["BLAZE_CACHE_DIR"] = tempfile.mkdtemp(prefix="blaze-compile-")
    return env


def _run_child(code: str, timeout: float) -> list[dict]:
    res = subprocess.run([sys.executable, "-c", code], env=_child_env(), capture_output=True, text=True,
                         timeout=timeout, cwd=ROOT)
    return _parse(res.stdout, res.stderr, res.returncode)


def _kernel_ref(kernel) -> str:
    fn = getattr(kernel, "fn", kernel)
    return f"{fn.__module__}:{fn.__name__}"


def compile_kernel(kernel, signature: dict, constexprs: dict, options: dict | None = None,
                   target=SM90, timeout: float = 120) -> None:
    """Compile ``kernel`` for ``GPUTarget("cuda", *target)`` in a child process; raise on error.

    Args:
        kernel: a ``@triton.jit`` function (interpreted or not) or ``"module:name"``.
        signature: argument name -> Triton type (``"*fp16"``, ``"i32"``, ``"fp32"``,
            ``"constexpr"``); names missing default to ``"constexpr"`` if in ``constexprs``.
        constexprs: argument name -> value.
        options: compile options, e.g. ``dict(num_warps=4, num_stages=3)``.
    Raises:
        CompileError: with the compiler's message.
    """
    ref = kernel if isinstance(kernel, str) else _kernel_ref(kernel)
    spec = dict(kernel=ref, signature=signature, constexprs=constexprs, options=options or {})
    code = textwrap.dedent(f"""
        import json
        from tests.kernels.compile_util import _compile_spec, _MARK
        print(_MARK + json.dumps([_compile_spec(json.loads({json.dumps(json.dumps(spec))}), {tuple(target)!r})]))
    """)
    (result,) = _run_child(code, timeout)
    if not result["ok"]:
        raise CompileError(f"{ref} failed to compile for sm_{target[0]}:\n{result['error']}")


def _compile_spec(spec: dict, target) -> dict:
    """Child side of :func:`compile_kernel`."""
    import importlib

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    mod, name = spec["kernel"].split(":")
    fn = getattr(importlib.import_module(mod), name)
    consts = spec["constexprs"]
    sig = {a: spec["signature"].get(a, "constexpr" if a in consts else None) for a in fn.arg_names}
    missing = [a for a, t in sig.items() if t is None]
    if missing:
        return dict(kernel=spec["kernel"], ok=False, error=f"no type given for arguments {missing}")
    cx = {(fn.arg_names.index(a),): v for a, v in consts.items()}
    try:
        triton.compile(ASTSource(fn, sig, cx), target=GPUTarget("cuda", *target), options=spec["options"])
        return dict(kernel=spec["kernel"], ok=True)
    except Exception as e:  # noqa: BLE001 - the message is the result
        return dict(kernel=spec["kernel"], ok=False, error=f"{type(e).__name__}: {e}"[-6000:])



# ptxas -v lines, e.g. "2064 bytes stack frame, 2052 bytes spill stores, 2508 bytes spill loads"
# and "Used 255 registers, used 1 barriers, ..." (Triton runs ptxas with -v and drops the log).
_SPILL_RE = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_REGS_RE = re.compile(r"Used (\d+) registers")
# The first tensor-core instruction of the PTX and its operand type: "wgmma.mma_async.sync.aligned.
# m64n128k16.f32.bf16.bf16" (Hopper warpgroup MMA) or "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16".
_MMA_RE = re.compile(r"\b(wgmma\.mma_async|mma\.sync)\.[\w.]*?\.f32\.(\w+)\.")
_STATS_VERSION = 1


def _stats_cache_dir() -> str:
    # ptxas on a cached cubin's PTX costs ~1-2 s a kernel; its parsed numbers are cached by PTX hash.
    return os.environ.get("BLAZE_SASS_CACHE") or os.path.join(tempfile.gettempdir(), "blaze-sass-stats")


def _ptxas_path() -> str:
    from triton.backends.nvidia import compiler
    import inspect
    get = getattr(compiler, "get_ptxas", None)
    if get is not None and inspect.signature(get).parameters:  # Triton 3.5+: sm_90 uses ptxas-blackwell
        return get(90).path
    from triton import knobs  # Triton 3.4: one ptxas (get_ptxas() takes no architecture)
    return knobs.nvidia.ptxas.path


def parse_ptxas_log(log: str) -> dict | None:
    """registers, spill store/load bytes and stack frame from a ``ptxas -v`` log; None if absent."""
    regs, spill = _REGS_RE.search(log), _SPILL_RE.search(log)
    if regs is None or spill is None:
        return None
    stack, stores, loads = (int(v) for v in spill.groups())
    return dict(regs=int(regs.group(1)), spill_stores=stores, spill_loads=loads, stack=stack)


@functools.lru_cache(maxsize=None)
def _ptxas_flags() -> tuple:
    """The register-allocation flag of the running Triton's ptxas call: 3.9 passes
    --regAllocOptLevel=2 (a ptxas 13 workaround), 3.4 and 3.6 pass none."""
    import inspect

    from triton.backends.nvidia.compiler import CUDABackend
    return ("--regAllocOptLevel=2",) if "regAllocOptLevel" in inspect.getsource(CUDABackend.make_cubin) else ()


def _run_ptxas(ptx: str, arch: str) -> str:
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "k.ptx")
        with open(src, "w") as f:
            f.write(ptx)
        # the flags the running Triton's make_cubin passes, so the numbers are the cubin's
        res = subprocess.run([_ptxas_path(), "-lineinfo", "-v", *_ptxas_flags(), f"--gpu-name={arch}",
                              src, "-o", os.path.join(d, "k.cubin")], capture_output=True, text=True, timeout=600)
    if res.returncode:
        raise CompileError(f"ptxas failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return res.stderr + res.stdout


def _cached_ptxas(ptx: str, arch: str, log: str) -> dict:
    """ptxas numbers for ``ptx``: from ``log`` (this compile's), the on-disk cache, or a ptxas run."""
    key = hashlib.sha256(f"{_STATS_VERSION}|{arch}|{_ptxas_flags()}|{ptx}".encode()).hexdigest()
    path = os.path.join(_stats_cache_dir(), key + ".json")
    got = parse_ptxas_log(log)
    if got is None:
        try:
            with open(path) as f:
                cached = json.load(f)  # untrusted file: only four ints are taken from it
            got = {k: int(cached[k]) for k in ("regs", "spill_stores", "spill_loads", "stack")}
        except (OSError, ValueError, KeyError, TypeError):
            got = parse_ptxas_log(_run_ptxas(ptx, arch))
            if got is None:
                raise CompileError("ptxas -v printed no register / spill line")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(got, f)
    os.replace(tmp, path)
    return got


def kernel_stats(kernel, log: str = "") -> dict:
    """Static resource use of a compiled kernel (Triton ``CompiledKernel``) on its target.

    Returns dict(regs, spill_stores, spill_loads, stack, smem, num_warps, mma, mma_type):
    bytes of spill per thread from ptxas, dynamic shared memory from Triton's metadata, and the
    tensor-core instruction family in the PTX: "wgmma" (Hopper warpgroup MMA), "mma.sync"
    (Ampere-style warp MMA) or "none" (FMA only), with its operand type (bf16, f16, tf32).
    """
    ptx = kernel.asm["ptx"]
    arch = re.search(r"^\.target\s+(\w+)", ptx, re.M).group(1)
    out = _cached_ptxas(ptx, arch, log)
    mma = _MMA_RE.search(ptx)
    family = "none" if mma is None else ("wgmma" if mma.group(1).startswith("wgmma") else "mma.sync")
    out.update(smem=int(kernel.metadata.shared), num_warps=int(kernel.metadata.num_warps), mma=family,
               mma_type="" if mma is None else mma.group(2), arch=arch)
    return out


class _CompileOnlyDriver:
    """Stands in for the CUDA driver: reports the target, owns no device."""

    def __init__(self, target):
        from triton.backends.compiler import GPUTarget
        self.target = GPUTarget("cuda", *target)

    def is_active(self):
        return True

    def get_current_target(self):
        return self.target

    def get_current_device(self):
        return 0

    def get_current_stream(self, device=None):
        return 0

    def get_active_torch_device(self):  # asked for by some Triton versions' benchmarking only
        raise RuntimeError("no device: compile-only session")


@contextlib.contextmanager
def compile_only(target=SM90, stats=False):
    """Child side: turn every ``kernel[grid](...)`` into a compile for ``target``; yield the records.

    Each record is ``dict(kernel, signature, constexprs, options, ok, error, case)``; a failed
    compile is recorded and the launcher carries on (its outputs are simply never written).
    ``records.case`` names the launcher call in progress for the report. ``stats``: add
    :func:`kernel_stats` to each record, and record a specialization again (``cached=True``)
    under every case that launches it.
    """
    from triton import knobs
    from triton.runtime.jit import JITFunction

    driver = importlib.import_module("triton.runtime.driver").driver  # the module, not its `driver` object

    assert not os.environ.get("TRITON_INTERPRET"), "compile_only needs TRITON_INTERPRET unset"

    class Records(list):
        case = ""

    records = Records()
    seen = {}
    old_getitem = JITFunction.__getitem__

    def launch(self, grid, args, kwargs):
        *_, backend, binder = self.device_caches[0]  # 5 fields in Triton 3.6+, 4 in 3.4
        bound, specialization, options = binder(*args, **kwargs)
        sig = {k: v[0] for k, v in zip(bound, specialization)}
        consts = {k: repr(bound[k]) for k, v in sig.items() if v == "constexpr"}
        key = (self.fn.__qualname__, repr(specialization), repr(sorted(options.items())))
        if key in seen:
            if stats and seen[key]["case"] != records.case:
                records.append(dict(seen[key], case=records.case, cached=True))
            return None
        rec = dict(kernel=f"{self.fn.__module__}:{self.fn.__name__}", case=records.case,
                   signature={k: v for k, v in sig.items() if v != "constexpr"}, constexprs=consts,
                   options={k: v for k, v in options.items() if k in ("num_warps", "num_stages")},
                   ok=True, error="")
        seen[key] = rec
        records.append(rec)
        t0 = time.perf_counter()
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log):  # where dump_ptxas_log prints ptxas -v
                compiled = self.run(*args, grid=grid, warmup=True, **kwargs)
            if stats:
                rec.update(kernel_stats(compiled, log.getvalue()))
        except Exception as e:  # noqa: BLE001 - recorded, reported by the caller
            rec.update(ok=False, error=f"{type(e).__name__}: {e}"[-6000:])
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        if os.environ.get("BLAZE_COMPILE_VERBOSE"):
            print(f"{rec['seconds']:6.2f}s {'ok ' if rec['ok'] else 'ERR'} {rec['kernel']} [{rec['case']}]",
                  file=sys.stderr, flush=True)
        return None

    def getitem(self, grid):
        return lambda *args, **kwargs: launch(self, grid, args, kwargs)

    slot = "_active" if hasattr(driver, "_active") else "active"  # Triton 3.4 names it `active`
    old_active = getattr(driver, slot)  # restored as-is: reset_active() would probe for a real GPU
    driver.set_active(_CompileOnlyDriver(target))
    JITFunction.__getitem__ = getitem
    old_dump = getattr(knobs.nvidia, "dump_ptxas_log", False)  # absent: ptxas reruns on the PTX
    knobs.nvidia.dump_ptxas_log = stats
    try:
        yield records
    finally:
        knobs.nvidia.dump_ptxas_log = old_dump
        JITFunction.__getitem__ = old_getitem
        setattr(driver, slot, old_active)


def run_compile_only(body: str, timeout: float = 300) -> list[dict]:
    """Run launcher code in a child with launches compiled for sm_90; return the records.

    ``body`` is Python source executed inside ``with compile_only() as records:``; it may set
    ``records.case`` before each call, and a launcher that raises is recorded as a failed entry
    (kernel ``"<launcher>"``) by the caller's own try/except. Launch errors never stop the child.
    """
    code = ("import json\n"
            "from tests.kernels.compile_util import compile_only, _MARK\n"
            "with compile_only() as records:\n"
            + textwrap.indent(textwrap.dedent(body), "    ")
            + "\nprint(_MARK + json.dumps(records))\n")
    return _run_child(code, timeout)


def failures_report(records: list[dict]) -> str:
    """Human-readable summary of the failed records."""
    lines = []
    for r in records:
        if not r["ok"]:
            lines.append(f"--- {r['kernel']} [{r['case']}] {r['options']}\n    constexprs {r['constexprs']}\n"
                         f"    signature {r['signature']}\n{textwrap.indent(r['error'], '    ')}")
    return "\n".join(lines)


def _run_shard(ref: str, shard: int, shards: int, stats: bool = False) -> list[dict]:
    """Child side of :func:`run_cases`: call every ``shards``-th case starting at ``shard``."""
    import traceback

    mod, name = ref.split(":")
    cases = getattr(importlib.import_module(mod), name)()
    with compile_only(stats=stats) as records:
        for i, (case, fn) in enumerate(cases):
            if i % shards != shard:
                continue
            records.case = case
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - a launcher error is a failed case, not a crash
                records.append(dict(kernel="<launcher>", case=case, signature={}, constexprs={}, options={},
                                    ok=False, error=f"{type(e).__name__}: {e}\n{traceback.format_exc()[-3000:]}"))
    return records


def run_cases(ref: str, shards: int = 1, timeout: float = 600, stats: bool = False) -> list[dict]:
    """Compile for sm_90 every launch made by the cases ``ref`` (``"module:function"``) returns.

    The function returns ``[(name, zero-arg callable)]`` and is imported in ``shards`` child
    processes that run in parallel, each calling its share of the cases under
    :func:`compile_only`. Returns all records (see :func:`compile_only`), failures included;
    ``stats`` adds :func:`kernel_stats` to each.
    """
    procs = []
    for shard in range(shards):
        code = ("import json\n"
                "from tests.kernels.compile_util import _run_shard, _MARK\n"
                f"print(_MARK + json.dumps(_run_shard({ref!r}, {shard}, {shards}, {stats!r})))\n")
        procs.append(subprocess.Popen([sys.executable, "-c", code], env=_child_env(), cwd=ROOT, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    records = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        records += _parse(stdout, stderr, p.returncode)
    return records


def _parse(stdout: str, stderr: str, rc: int) -> list[dict]:
    for line in stdout.splitlines():
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK):])
    raise CompileError(f"compile child exited {rc} without results:\n{stdout[-2000:]}\n{stderr[-4000:]}")
