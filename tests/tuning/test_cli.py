"""blaze tune end to end under the interpreter: arguments, tuning, record, cache commands."""
import io
import json
import textwrap

import pytest

from blaze.tuning import cli

FAST = ["--max-configs", "1", "--repeats", "1", "--warmup", "0"]


def run(argv):
    out = io.StringIO()
    rc = cli.main(argv, out=out)
    return rc, out.getvalue()


@pytest.mark.parametrize("argv, message", [
    ([], "name a kernel"),
    (["nope", "--shape", "3"], "unknown kernel 'nope'"),
    (["matmul"], "--shape is required"),
    (["matmul", "--shape", "4x4"], "has 2 dims; expected MxNxK"),
    (["softmax", "--shape", "8xa"], "bad --shape '8xa'"),
    (["softmax", "--shape", "8x0"], "dim <= 0"),
    (["softmax", "--shape", "8x8", "--dtype", "int7"], "unknown --dtype 'int7'"),
    (["softmax", "--shape", "8x8", "--set", "foo"], "bad --set 'foo'"),
    (["softmax", "--shape", "8x8", "--set", "bogus=1"], "unknown problem key(s) bogus"),
    (["softmax", "--shape", "8x8", "--set", "bogus=x"], "unknown problem key(s) bogus"),
    (["softmax", "--shape", "8x8", "--set", "dtype=fp16"], "with --dtype, not --set"),
    (["softmax", "--shape", "8x8", "--set", "M=0"], "--set M=0: expected an integer >= 1"),
    (["matmul", "--shape", "8x8x8", "--set", "Z=0"], "--set Z=0: expected an integer >= 1"),
    (["attention", "--shape", "1x2x16x16", "--set", "causal=maybe"], "--set causal=maybe: expected true or false"),
    (["conv2d", "--shape", "1x2x8x8x4x3x3", "--set", "PH=-1"], "--set PH=-1: expected an integer >= 0"),
    (["conv2d", "--shape", "1x2x8x8x4x3x3", "--set", "which=sideways"], "expected one of forward|input|weight"),
    (["reduce", "--shape", "8x8", "--set", "op=median"], "--set op=median: expected one of sum|"),
    (["cross_entropy", "--shape", "8x8", "--set", "label_smoothing=2"], "expected a number in [0.0, 1.0]"),
    (["softmax", "--shape", "8x8", "--max-configs", "-1"], "--max-configs must be >= 0"),
    (["export"], "the following arguments are required: file"),
    (["--record"], "--record needs a command"),
    (["--record", "python", "/no/such/script.py"], "no such script"),
    (["--recorded", "/no/such/recorded.json"], "no recorded problems"),
    (["softmax", "--bogus"], "unrecognized arguments: --bogus"),
    (["matmul", "--preset", "gpt2-small"], "--preset takes no kernel names"),
    (["--preset", "gpt3"], "invalid choice: 'gpt3'"),
])
def test_argument_errors_exit_2(argv, message, capsys):
    rc, _ = run(argv)
    assert rc == 2
    assert message in capsys.readouterr().err


def test_list_shows_kernels_keys_and_shape_syntax():
    rc, out = run(["list"])
    assert rc == 0
    for text in ("matmul", "M,N,K,Z,dtype", "MxNxK[xZ]", "attention", "BxHxSxD", "softmax", "conv2d"):
        assert text in out


def test_tune_in_interpreter_caches_a_config_that_the_kernel_then_uses(cache_dir):
    from blaze.kernels import registry
    from blaze.tuning import cache
    rc, out = run(["softmax", "--shape", "8x40", "--dtype", "fp32"] + FAST)
    assert rc == 0, out
    assert "NOT GPU timings" in out and "speed-up" in out and "softmax" in out
    entries = json.loads((cache_dir / "autotune.json").read_text())["entries"]
    (entry,) = entries.values()
    problem = dict(M=8, N=40, dtype="float32")
    assert entry["problem"] == problem and entry["timer"].startswith("cpu-clock")
    assert registry.config_for("softmax", problem) == entry["config"]
    assert registry.config_for("softmax", dict(M=5, N=33, dtype="float32")) == entry["config"]  # same bucket

    # The launcher really reads the cache: a poisoned entry (BLOCK_M=3 is no power of two,
    # which used to fail every launch) is reported by the launch and the heuristic runs.
    import numpy as np
    from blaze.kernels.buffer import HostBuffer
    from blaze.kernels.softmax import softmax
    x = HostBuffer(np.ones((8, 40), np.float32))
    cache.put("softmax", problem, dict(entry["config"], BLOCK_M=3))
    with pytest.warns(RuntimeWarning, match="BLOCK_M=3 is not a power of two"):
        y = softmax(x)
    np.testing.assert_allclose(y.array, np.full((8, 40), 1 / 40, np.float32), rtol=1e-6)


def test_skipped_configs_are_reported(monkeypatch):
    from blaze.tuning import tune
    bad = dict(BLOCK_M=3, BLOCK_N=64, num_warps=4, num_stages=1)
    res = tune("softmax", dict(M=4, N=20, dtype="float32"), configs=[bad], timer=_fast_timer())
    assert res.best == res.heuristic and res.timed == 1
    assert res.skipped and res.skipped[0][0] == bad and "power of 2" in res.skipped[0][1]
    assert res.speedup == pytest.approx(1.0)


def _fast_timer():
    from blaze.tuning.timer import CpuTimer
    return CpuTimer(warmup=0, repeats=1)


def test_export_import_round_trip(cache_dir, tmp_path):
    from blaze.kernels import registry
    rc, _ = run(["softmax", "--shape", "4x24", "--dtype", "fp32"] + FAST)
    assert rc == 0
    before = json.loads((cache_dir / "autotune.json").read_text())["entries"]
    dump = tmp_path / "exported.json"
    assert run(["export", str(dump)])[0] == 0
    assert run(["clear"])[0] == 0
    rc, out = run(["show"])
    assert rc == 0 and "is empty" in out
    rc, out = run(["import", str(dump)])
    assert rc == 0 and "imported 1 entries" in out
    assert json.loads((cache_dir / "autotune.json").read_text())["entries"] == before
    rc, out = run(["show"])
    assert "softmax" in out and "M=4 N=32" in out and "1 entries" in out
    (entry,) = before.values()
    assert registry.config_for("softmax", dict(M=4, N=24, dtype="float32")) == entry["config"]


def test_import_of_a_bad_file_is_an_error_and_keeps_the_cache(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert run(["import", str(bad)])[0] == 1
    assert "not a blaze autotune cache" in capsys.readouterr().err


def test_record_a_script_then_tune_what_it_launched(cache_dir, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import sys
        import numpy as np
        from blaze.kernels.buffer import HostBuffer
        from blaze.kernels.softmax import softmax
        assert sys.argv[1:] == ["--epochs", "1"], sys.argv
        for _ in range(3):  # the same problem three times: recorded once
            softmax(HostBuffer(np.ones((4, 24), np.float32)))
        softmax(HostBuffer(np.ones((2, 100), np.float32)))
    """))
    rc, out = run(FAST + ["--record", "python", str(script), "--epochs", "1"])
    assert rc == 0, out
    assert "recorded 2 problems" in out
    recorded = json.loads((cache_dir / "recorded.json").read_text())
    assert [r["problem"] for r in recorded] == [dict(M=4, N=24, dtype="float32"), dict(M=2, N=100, dtype="float32")]
    entries = json.loads((cache_dir / "autotune.json").read_text())["entries"]
    assert sorted(e["problem"]["N"] for e in entries.values()) == [24, 100]
    # and the recorded file can be tuned again later
    assert run(["--recorded"] + FAST)[0] == 0


def test_gpt2_small_preset_lists_the_step_gemms_and_attention():
    problems = cli.PRESETS["gpt2-small"]()
    gemms = {(p["M"], p["N"], p["K"]) for n, p in problems if n == "matmul"}
    assert {(8192, 2304, 768), (8192, 768, 2304), (768, 2304, 8192), (8192, 50257, 768)} <= gemms
    att = [p for n, p in problems if n.startswith("attention")]
    assert len(att) == 2 and all(p["D"] == 64 and p["causal"] and p["dtype"] == "bfloat16" for p in att)


def test_record_a_model_on_the_cuda_device(cache_dir, tmp_path):
    """blaze code on the "cuda" device (emulated here) reaches the kernels' config_for."""
    script = tmp_path / "model.py"
    script.write_text("import blaze\nimport blaze.nn.functional as F\n"
                      "F.softmax(blaze.ones(4, 24, device='cuda'), dim=-1)\n")
    rc, out = run(FAST + ["--record", "python", str(script)])
    assert rc == 0, out
    recorded = json.loads((cache_dir / "recorded.json").read_text())
    assert {"kernel": "softmax", "problem": dict(M=4, N=24, dtype="float32")} in recorded


def test_import_skips_invalid_entries_with_a_warning_naming_file_and_key(cache_dir, tmp_path):
    from blaze.tuning import cache
    assert run(["softmax", "--shape", "4x24", "--dtype", "fp32"] + FAST)[0] == 0
    (key, good), = json.loads((cache_dir / "autotune.json").read_text())["entries"].items()
    cache.clear()
    bad_key = key.replace("M=4", "M=8")
    bad = dict(good, config=dict(good["config"], BLOCK_M=-16))
    src = tmp_path / "shared.json"
    src.write_text(json.dumps({"format": 1, "entries": {key: good, bad_key: bad}}))
    with pytest.warns(RuntimeWarning) as caught:
        rc, out = run(["import", str(src)])
    assert rc == 0 and "imported 1 entries" in out
    (msg,) = [str(w.message) for w in caught if "cache entry" in str(w.message)]
    assert str(src) in msg and bad_key in msg and "BLOCK_M=-16 is out of range" in msg
    assert list(json.loads((cache_dir / "autotune.json").read_text())["entries"]) == [key]


def test_import_into_a_corrupt_cache_keeps_a_corrupt_copy(cache_dir, tmp_path):
    assert run(["softmax", "--shape", "4x24", "--dtype", "fp32"] + FAST)[0] == 0
    dump = tmp_path / "exported.json"
    assert run(["export", str(dump)])[0] == 0
    (cache_dir / "autotune.json").write_text("{broken")
    with pytest.warns(RuntimeWarning, match="kept as"):
        assert run(["import", str(dump)])[0] == 0
    assert (cache_dir / "autotune.json.corrupt").read_text() == "{broken"
    assert len(json.loads((cache_dir / "autotune.json").read_text())["entries"]) == 1


def test_valid_set_values_are_typed():
    from blaze.tuning.tuner import get_tunable
    p = cli.parse_problem("attention", get_tunable("attention"), "1x2x16x16", "fp16", ["causal=TRUE"])
    assert p["causal"] is True and p["dtype"] == "float16"
    p = cli.parse_problem("conv2d", get_tunable("conv2d"), "1x2x8x8x4x3x3", "fp32", ["which=input", "PH=0", "SH=2"])
    assert (p["which"], p["PH"], p["SH"]) == ("input", 0, 2)
    p = cli.parse_problem("cross_entropy", get_tunable("cross_entropy"), "8x8", "fp32", ["label_smoothing=0"])
    assert p["label_smoothing"] == 0.0 and type(p["label_smoothing"]) is float
    p = cli.parse_problem("reduce", get_tunable("reduce"), "8x8", "fp32", ["op=cumsum", "layout=col"])
    assert (p["op"], p["layout"]) == ("cumsum", "col")
    assert cli.parse_problem("matmul", get_tunable("matmul"), "8x8x8", "bf16", ["Z=3"])["Z"] == 3
