"""The autotune cache: keys, atomic writes, corrupt files, the API (record / tune_recorded)."""
import importlib
import json
import sys
import warnings

import numpy as np
import pytest

from blaze.kernels import registry
from blaze.tuning import cache
from blaze.tuning.timer import CpuTimer


def _softmax_once(M, N):
    from blaze.kernels.buffer import HostBuffer
    from blaze.kernels.softmax import softmax
    return softmax(HostBuffer(np.ones((M, N), np.float32)))


def test_bucket_rounds_sizes_up_to_powers_of_two_and_keeps_geometry_exact():
    assert cache.bucket(dict(M=3000, N=1, K=4096, dtype="bfloat16")) == dict(K=4096, M=4096, N=1)
    assert cache.bucket(dict(B=3, D=80, causal=True, S_q=77)) == dict(B=4, D=80, S_q=128, causal=True)
    assert cache.bucket(dict(KH=3, which="input", batch=5)) == dict(KH=3, batch=8, which="input")


def test_key_changes_with_shape_bucket_dtype_and_source(tmp_path, monkeypatch):
    import blaze.kernels.softmax  # noqa: F401  (registers softmax)
    key = lambda **p: cache.make_key("softmax", dict(dict(M=64, N=1000, dtype="float32"), **p))[0]  # noqa: E731
    assert key(M=40) == key()                      # 40 and 64 share bucket 64
    assert key(M=65) != key()                      # 65 -> 128
    assert key(dtype="bfloat16") != key()
    parts = cache.make_key("softmax", dict(M=64, N=1000, dtype="float32"))[1]
    assert parts["device"] == cache.INTERPRETER_DEVICE and parts["triton"]

    # the source hash is the kernel module's file: editing the file changes the key
    mod_file = tmp_path / "fake_kernel_mod.py"
    mod_file.write_text("def heur(p):\n    return {'BLOCK': 1}\n\ndef make(p, nb):\n    return lambda c: None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("fake_kernel_mod")
    t = registry.Tunable("fake", [], mod.heur, mod.make, problem_keys=("M", "dtype"))
    k1 = cache.make_key("fake", dict(M=5, dtype="float32"), t)[0]
    mod_file.write_text(mod_file.read_text() + "# tweak the kernel\n")
    cache.reset()
    k2 = cache.make_key("fake", dict(M=5, dtype="float32"), t)[0]
    assert k1 != k2 and k1.split("|")[2:] == k2.split("|")[2:]
    sys.modules.pop("fake_kernel_mod", None)


@pytest.mark.parametrize("content", ["{not json", json.dumps({"format": 1, "entries": [1]}),
                                     json.dumps({"format": 99, "entries": {}}), "[]", "\xff\xfe"])
def test_corrupt_cache_warns_once_and_falls_back_to_the_heuristic(cache_dir, content):
    import blaze.kernels.softmax as sm
    cache_dir.mkdir()
    (cache_dir / "autotune.json").write_text(content)
    problem = dict(M=4, N=24, dtype="float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert registry.config_for("softmax", problem) == sm.softmax_heuristic(problem)
        _softmax_once(4, 24)                         # the kernel still runs
        registry.config_for("softmax", dict(M=9, N=24, dtype="float32"))
    msgs = [str(w.message) for w in caught if "autotune cache" in str(w.message)]
    assert len(msgs) == 1 and "autotune.json" in msgs[0]
    # tuning replaces the file (the unreadable one is kept aside for a post-mortem)
    from blaze.tuning import tune
    res = tune("softmax", problem, max_configs=1, timer=CpuTimer(0, 1))
    assert (cache_dir / "autotune.json.corrupt").exists()
    cache.reset()
    assert registry.config_for("softmax", problem) == res.best


_GOOD = dict(BLOCK_M=4, BLOCK_N=32, num_warps=4, num_stages=1)


@pytest.mark.parametrize("config, why", [
    (dict(_GOOD, BLOCK_M=-16), "BLOCK_M=-16 is out of range"),
    ({}, "not a non-empty mapping"),
    ({k: v for k, v in _GOOD.items() if k != "BLOCK_N"}, "missing key(s) BLOCK_N"),
    (dict(_GOOD, BLOCK_M=0), "BLOCK_M=0 is out of range"),
    (dict(_GOOD, BLOCK_N=48), "BLOCK_N=48 is not a power of two"),
    (dict(_GOOD, BLOCK_N="32"), "BLOCK_N='32' is not an integer"),
    (dict(_GOOD, BLOCK_N=True), "BLOCK_N=True is not an integer"),
    (dict(_GOOD, BLOCK_K=16), "unknown key(s) BLOCK_K"),
    (dict(_GOOD, num_warps=64), "num_warps=64 is out of range"),
    ("BLOCK_M=4", "not a non-empty mapping"),
])
def test_invalid_cache_entry_is_ignored_with_one_warning(cache_dir, config, why):
    import blaze.kernels.softmax as sm
    from blaze.kernels.softmax import softmax
    from blaze.kernels.buffer import HostBuffer
    problem = dict(M=4, N=24, dtype="float32")
    key, parts = cache.make_key("softmax", problem)
    good_key, good_parts = cache.make_key("softmax", dict(problem, M=64))
    cache_dir.mkdir()
    (cache_dir / "autotune.json").write_text(json.dumps({"format": 1, "entries": {
        key: dict(parts, config=config), good_key: dict(good_parts, config=_GOOD)}}))
    x = np.random.default_rng(0).standard_normal((4, 24)).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            assert registry.config_for("softmax", problem) == sm.softmax_heuristic(problem)
            y = softmax(HostBuffer(x)).array
        assert registry.config_for("softmax", dict(problem, M=64)) == _GOOD   # the valid entry still serves
    msgs = [str(w.message) for w in caught if "cache entry" in str(w.message)]
    assert len(msgs) == 1 and str(cache_dir / "autotune.json") in msgs[0] and key in msgs[0] and why in msgs[0]
    ref = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(y, ref / ref.sum(1, keepdims=True), rtol=1e-5)


def test_writes_are_atomic_and_leave_no_temporary_files(cache_dir):
    import blaze.kernels.softmax  # noqa: F401
    for m in (4, 300):
        cache.put("softmax", dict(M=m, N=8, dtype="float32"), dict(BLOCK_M=1, BLOCK_N=8, num_warps=4))
    assert sorted(p.name for p in cache_dir.iterdir()) == ["autotune.json"]
    assert len(cache.read_entries(strict=True)) == 2


def test_record_api_and_tune_recorded(cache_dir):
    from blaze.tuning import record, tune_recorded
    with record(path=False) as rec:
        _softmax_once(3, 24)
        _softmax_once(4, 30)   # same bucket as (3, 24): recorded, but tuned once
        _softmax_once(2, 200)
    assert registry._recorder is None
    assert [p["N"] for _, p in rec.records] == [24, 30, 200]
    results = tune_recorded(rec, max_configs=1, timer=CpuTimer(0, 1))
    assert [r.problem["N"] for r in results] == [24, 200]
    assert all(r.best is not None and r.key for r in results)
    assert len(cache.read_entries(strict=True)) == 2


def test_record_saves_to_the_cache_dir_by_default(cache_dir):
    from blaze.tuning import load_records, record
    with record():
        _softmax_once(2, 16)
    assert load_records() == [("softmax", dict(M=2, N=16, dtype="float32"))]


def test_autotune_on_first_use(cache_dir, monkeypatch):
    import blaze.kernels.softmax as sm
    monkeypatch.setenv("BLAZE_AUTOTUNE", "1")
    monkeypatch.setattr(sm.SOFTMAX, "configs", sm.SOFTMAX_CONFIGS[:1])  # keep the interpreter quick
    _softmax_once(2, 12)
    (entry,) = cache.read_entries(strict=True).values()
    assert entry["problem"] == dict(M=2, N=12, dtype="float32")
    assert registry.config_for("softmax", entry["problem"]) == entry["config"]


def test_cuda_event_timer_path_on_the_emulated_device(cache_dir):
    """The GPU timing code (DeviceArray inputs, L2 flush, blaze.cuda.Event) end to end; on
    the emulated device the events read the host clock."""
    from blaze.devices.cuda.memory import DeviceArray
    from blaze.tuning import tune
    from blaze.tuning.timer import CudaEventTimer
    timer = CudaEventTimer(warmup=0, repeats=2, flush_bytes=1 << 12)
    buf = timer.new_buffer((3, 5), "bfloat16")
    assert isinstance(buf, DeviceArray) and str(buf.dtype) == "bfloat16"
    res = tune("softmax", dict(M=4, N=24, dtype="float32"), max_configs=1, timer=timer)
    assert res.best is not None and res.best_ms > 0 and res.timer == "cuda-events"
    assert timer._flush is not None


_SAMPLE_PROBLEMS = {
    "matmul": dict(M=3000, N=77, K=1000, Z=1, dtype="float32"), "softmax": dict(M=3, N=50000, dtype="float32"),
    "layer_norm": dict(M=1, N=3, dtype="float32"), "cross_entropy": dict(M=7, V=50257, dtype="bfloat16"),
    "reduce": dict(op="sum", M=5, R=1000, dtype="float32", layout="col"),
    "index_move": dict(numel=17, dtype="float32"), "embedding": dict(V=100, D=13, n_ids=7, dtype="float32"),
    "random": dict(numel=1, dtype="float32"), "optim": dict(numel=10 ** 6, dtype="float32"),
    "pooling": dict(numel=5, dtype="float32"),
    "attention": dict(B=1, H=2, S_q=20, S_k=20, D=64, dtype="float16", causal=True),
    "attention_backward": dict(B=1, H=2, S_q=20, S_k=20, D=64, dtype="float16", causal=True),
    "conv2d": dict(which="weight", batch=2, C=3, H=9, W=9, O=5, KH=3, KW=3, SH=1, SW=1, PH=0, PW=0, DH=1, DW=1,
                   groups=1, dtype="float32"),
}


@pytest.mark.parametrize("interpret", ["1", "0"])
def test_every_config_the_tuner_can_cache_passes_the_entry_check(monkeypatch, interpret):
    # tune() caches the heuristic's config when it wins, so heuristics must pass too
    from blaze.tuning.tuner import load_kernels
    assert load_kernels() == {}
    monkeypatch.setenv("TRITON_INTERPRET", interpret)
    for name, t in registry.tunables().items():
        assert [c for c in t.configs if registry.config_error(t, c)] == [], name
        if name in _SAMPLE_PROBLEMS:
            cfg = t.heuristic(_SAMPLE_PROBLEMS[name])
            assert registry.config_error(t, cfg) is None, (name, cfg)
