"""Host time per kernel launch: Triton's JIT path vs blaze's direct launch (issue 16).

    TRITON_INTERPRET=1 python perf/bench_launch.py [--json out.json] [--check US]

Runs without a GPU: a real ``triton.runtime.jit.JITFunction`` of blaze's elementwise kernel
is driven through a stand-in driver (a CUDA sm_90 target, device 0, stream 0) and a stand-in
``CompiledKernel`` whose ``run`` (Triton's C launcher) does nothing, so what is timed is the
Python between the call and the driver: Triton's binder, specialisation, cache key and lookup
(``kernel[grid](...)``) against ``blaze.kernels.launcher`` (a key of the arguments that
change, one dict lookup, ``compiled.run``). The elementwise kernel takes 38 arguments
(4 buffers, 3 scalars, 31 sizes/strides) and 14 constexprs. Rows (µs of this thread's CPU time,
fastest of several samples):

- ``triton kernel[grid]``: Triton 3.x's launch path;
- ``launcher.launch``: every argument keyed;
- ``launcher.launch_static``: the 7 operands keyed, the rest by the caller's plan (elementwise);
- ``a+b op, triton path`` / ``a+b op, direct``: a whole ``a + b`` on two (16,) cuda tensors
  (blaze's op layer, launch plan, allocation) with each launcher;
- on a GPU also ``a+b on the GPU, ...``: the same with real launches (perf/gpu_check.sh).

``--check US`` exits 1 when the direct ``a+b`` op costs more than US µs.
"""
from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from perf._cli import over_bound, write_json  # noqa: E402

from perf.bench_host_overhead import _best_us  # noqa: E402


class _Driver:
    """Triton's active-driver surface that JITFunction.run reads, for a CUDA sm_90 target."""

    def get_current_target(self):
        from triton.backends.compiler import GPUTarget
        return GPUTarget("cuda", 90, 32)

    def get_current_device(self):
        return 0

    def get_current_stream(self, device):
        return 0

    def is_active(self):
        return True


class _Compiled:
    """A compiled kernel whose C launcher is a no-op."""
    packed_metadata = None
    function = 0

    def run(self, *args):
        pass

    def launch_metadata(self, grid, stream, *args):
        return None


def run() -> list[dict]:
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    import blaze
    from triton.runtime import driver
    from triton.runtime.jit import JITFunction

    from blaze.kernels import elementwise as ew
    from blaze.kernels import launcher

    jit = JITFunction(ew._ew_kernel.fn)
    compiled = _Compiled()

    def no_compile(key, *args, **kwargs):  # what Triton would compile and cache under key
        jit.device_caches[0][0][key] = compiled
        return compiled
    jit._do_compile = no_compile
    a, b = (blaze.ones(16, device="cuda") for _ in range(2))
    a + b
    plan = next(p for k, p in ew._PLANS.items() if k[0] == "add")  # the launch plan a + b made
    out = a._data.new(plan.shape, plan.out_dtype)
    args = (out, a._data, b._data, out, 0, 0, 0, *plan.args)
    token = object()

    rows = []
    real_kernel, real_direct = ew._ew_kernel, launcher.DIRECT[0]
    prev = driver._active  # None, or the real driver on a GPU machine
    driver.set_active(_Driver())
    try:
        ew._ew_kernel = jit
        launcher.DIRECT[0] = True
        cases = {
            "triton kernel[grid]": lambda: jit[plan.grid](*args, **plan.meta),
            "launcher.launch": lambda: launcher.launch(jit, plan.grid, *args, **plan.meta),
            "launcher.launch_static": lambda: launcher.launch_static(jit, plan.grid, token, 7, *args, **plan.meta),
        }
        for name, fn in cases.items():
            rows.append(dict(case=name, us=round(_best_us(fn), 2)))
        for name, direct in (("a+b op, triton path", False), ("a+b op, direct", True)):
            launcher.DIRECT[0] = direct
            rows.append(dict(case=name, us=round(_best_us(lambda: a + b), 2)))
    finally:
        ew._ew_kernel, launcher.DIRECT[0] = real_kernel, real_direct
        driver._active = prev
        launcher.clear_cache()
    if blaze.cuda.is_available():  # the same op with real launches (host time; the GPU runs behind)
        try:
            for name, direct in (("a+b on the GPU, triton path", False), ("a+b on the GPU, direct", True)):
                launcher.DIRECT[0] = direct
                rows.append(dict(case=name, us=round(_best_us(lambda: a + b), 2)))
                blaze.cuda.synchronize()
        finally:
            launcher.DIRECT[0] = real_direct
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the rows here")
    ap.add_argument("--check", type=float, help="fail when the direct a+b op costs more than this many µs")
    args = ap.parse_args(argv)
    rows = run()
    print(f"{'case':<26} {'us':>8}")
    for r in rows:
        print(f"{r['case']:<26} {r['us']:8.2f}")
    write_json(rows, args.json)
    if args.check is None:
        return 0
    direct = next(r for r in rows if r["case"] == "a+b op, direct")
    return over_bound("a+b op, direct", direct["us"], args.check)


if __name__ == "__main__":
    sys.exit(main())
