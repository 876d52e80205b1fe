"""blaze.kernels.launcher: the specialisation cache, with a fake JIT kernel and compiled kernel.

The interpreter has no compiled kernels, so the direct path is driven here by stand-ins that
record what they are called with; perf/gpu_check.sh runs the real one on a GPU.
"""
import inspect

import numpy as np
import pytest

from blaze.kernels import launcher


class _Param:
    def __init__(self, name, default=inspect.Parameter.empty):
        self.name, self.default = name, default


class _Compiled:
    packed_metadata = "packed"
    function = "fn"

    def __init__(self):
        self.runs = []

    def run(self, *a):
        self.runs.append(a)

    def launch_metadata(self, grid, stream, *args):
        return "meta"


class _Kernel:
    """``kernel[grid](*args, **kw)`` takes 'Triton's path': it counts, and returns one compiled kernel per spec."""

    def __init__(self, names, defaults=None):
        defaults = defaults or {}
        self.params = [_Param(n, defaults.get(n, inspect.Parameter.empty)) for n in names]
        self.slow = []
        self.compiled = []

    def __getitem__(self, grid):
        def call(*args, **kwargs):
            self.slow.append((grid, args, kwargs))
            c = _Compiled()
            self.compiled.append(c)
            return c
        return call


class _Buf:
    def __init__(self, ptr, dtype=np.float32):
        self.ptr, self.dtype = ptr, np.dtype(dtype)

    def data_ptr(self):
        return self.ptr


@pytest.fixture
def direct(monkeypatch):
    monkeypatch.setattr(launcher, "DIRECT", [True])
    monkeypatch.setattr(launcher, "_stream", lambda: 7)
    launcher.clear_cache()
    yield
    launcher.clear_cache()


def test_second_call_goes_to_the_compiled_launcher_with_every_parameter_in_order(direct):
    k = _Kernel(["x", "y", "n", "BLOCK", "ACT"], defaults={"ACT": 0})
    x, y = _Buf(1024), _Buf(2048)
    launcher.launch(k, (3,), x, y, 100, BLOCK=64, num_warps=4)
    assert len(k.slow) == 1 and not k.compiled[0].runs
    launcher.launch(k, (5, 2), x, y, 100, BLOCK=64, num_warps=4)
    assert len(k.slow) == 1
    (run,) = k.compiled[0].runs
    # grid padded to 3, the stream, the handles, no launch metadata without a hook, then all args
    assert run[:7] == (5, 2, 1, 7, "fn", "packed", None)
    assert run[9:] == (x, y, 100, 64, 0)


@pytest.mark.parametrize("change", [
    lambda a: dict(a, x=_Buf(1032)),                 # pointer no longer 16-byte aligned
    lambda a: dict(a, x=_Buf(1024, np.float16)),     # dtype
    lambda a: dict(a, n=1),                          # Triton specialises ints equal to 1
    lambda a: dict(a, n=96),                         # and ints divisible by 16
    lambda a: dict(a, n=1 << 33),                    # and 64-bit ints
    lambda a: dict(a, n=2.5),                        # another type
    lambda a: dict(a, BLOCK=128),                    # a constexpr
    lambda a: dict(a, num_warps=8),                  # a launch option
])
def test_a_different_specialisation_takes_tritons_path_again(direct, change):
    k = _Kernel(["x", "n", "BLOCK"])
    base = dict(x=_Buf(1024), n=100, BLOCK=64, num_warps=4)
    for a in (base, base):
        launcher.launch(k, (1,), a["x"], a["n"], BLOCK=a["BLOCK"], num_warps=a["num_warps"])
    assert len(k.slow) == 1
    a = change(base)
    launcher.launch(k, (1,), a["x"], a["n"], BLOCK=a["BLOCK"], num_warps=a["num_warps"])
    assert len(k.slow) == 2
    # same-spec values (another aligned pointer, another int in the class) hit the cache
    launcher.launch(k, (1,), _Buf(4096), 101, BLOCK=64, num_warps=4)
    assert len(k.slow) == 2 and len(k.compiled[0].runs) == 2


def test_unkeyable_arguments_and_callable_grids_always_take_tritons_path(direct):
    k = _Kernel(["x", "n"])
    for _ in range(2):
        launcher.launch(k, (1,), _Buf(0), object())
        launcher.launch(k, lambda meta: (1,), _Buf(0), 3)
    assert len(k.slow) == 4 and not any(c.runs for c in k.compiled)


def test_off_under_the_interpreter_and_while_profiling(direct, monkeypatch):
    import blaze.profiler
    k = _Kernel(["x"])
    with blaze.profiler.profile():
        for _ in range(2):
            launcher.launch(k, (1,), _Buf(0))
    assert len(k.slow) == 2
    monkeypatch.setattr(launcher, "DIRECT", [False])
    for _ in range(2):
        launcher.launch(k, (1,), _Buf(0))
    assert len(k.slow) == 4 and not any(c.runs for c in k.compiled)


def test_launch_hooks_get_the_launch_metadata(direct, monkeypatch):
    from triton import knobs
    def hook(metadata):
        pass
    monkeypatch.setattr(knobs.runtime, "launch_enter_hook", hook)
    k = _Kernel(["x"])
    for _ in range(2):
        launcher.launch(k, (1,), _Buf(0))
    (run,) = k.compiled[0].runs
    assert run[6] == "meta" and run[7] is hook


def test_launch_static_keys_only_the_leading_arguments_and_the_token(direct):
    k = _Kernel(["x", "n", "m", "BLOCK"])
    x = _Buf(1024)
    launcher.launch_static(k, (1,), "plan-a", 1, x, 5, 6, BLOCK=8)
    launcher.launch_static(k, (1,), "plan-a", 1, _Buf(2048), 5, 6, BLOCK=8)
    assert len(k.slow) == 1 and k.compiled[0].runs[0][10:] == (5, 6, 8)
    launcher.launch_static(k, (1,), "plan-a", 1, _Buf(1032), 5, 6, BLOCK=8)  # the keyed buffer's alignment
    launcher.launch_static(k, (1,), "plan-b", 1, x, 5, 6, BLOCK=8)           # another plan
    assert len(k.slow) == 3
    for _ in range(2):  # no token (an uncached plan): every argument keyed, as launch does
        launcher.launch_static(k, (1,), None, 1, x, 7, 6, BLOCK=8)
    assert len(k.slow) == 4 and len(k.compiled[3].runs) == 1


def test_elementwise_plans_key_their_direct_launch(monkeypatch):
    """The elementwise launcher hands its cached plan's token to launch_static; an explicit config has none."""
    import blaze
    from blaze.kernels import elementwise as ew
    a = blaze.ones(16, device="cuda")._data
    calls = []
    monkeypatch.setattr(ew, "_launch", lambda kernel, grid, token, n, *args, **kw: calls.append((kernel, token, n, args)))
    for _ in range(2):
        ew.binary("add", a, a)
    ew.binary("add", a, a, config=dict(BLOCK=16, num_warps=4))
    (k1, t1, n1, args1), (_, t1b, _, _), (_, t2, _, _) = calls
    assert k1 is ew._ew_kernel and isinstance(t1, int) and t1 == t1b and n1 == 7
    assert len(args1) == 7 + 31 and args1[1] is a and args1[2] is a
    assert t2 is None


@pytest.mark.skipif(launcher.interpret(), reason="the compiled-kernel path needs a GPU: perf/gpu_check.sh runs it")
def test_on_a_gpu_repeated_launches_skip_the_jit_and_stay_correct(monkeypatch):
    import blaze
    from triton.runtime.jit import JITFunction
    launcher.clear_cache()
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal((67, 45)).astype(np.float32) for _ in range(2))
    a, b = blaze.tensor(x, device="cuda"), blaze.tensor(y, device="cuda")
    first = ((a + b).cpu().numpy(), (a @ b.T).cpu().numpy())
    jit_runs = []
    real = JITFunction.run
    monkeypatch.setattr(JITFunction, "run", lambda self, *a, **k: jit_runs.append(1) or real(self, *a, **k))
    again = ((a + b).cpu().numpy(), (a @ b.T).cpu().numpy())
    assert not jit_runs  # both launches went to the compiled kernels' launchers
    np.testing.assert_array_equal(again[0], first[0])
    np.testing.assert_allclose(again[0], x + y, rtol=1e-6)
    np.testing.assert_allclose(again[1], x @ y.T, rtol=1e-4, atol=1e-4)
