"""perf/: runner JSON schema, compare verdicts, report, and the committed CPU baseline."""
import json
import os

import pytest

from perf import compare, report, runner
from perf.cases import Case, op_cases

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROW_KEYS = {"case", "kind", "shape", "dtype", "device", "device_name", "versions", "median_ms", "gb_per_s",
            "tflop_per_s", "samples_per_s", "pct_peak", "reference", "reference_ms", "ratio"}


@pytest.fixture(autouse=True)
def no_torch(monkeypatch):
    monkeypatch.setenv("BLAZE_PERF_NO_TORCH", "1")  # NumPy reference, as in CI


def test_runner_rows_follow_the_schema(tmp_path):
    out = tmp_path / "r.json"
    assert runner.main(["--quick", "--filter", "dispatch_add,elementwise", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["schema"] == runner.SCHEMA and doc["quick"] is True and doc["device"] == "cpu"
    assert {"blaze", "numpy", "triton"} <= set(doc["versions"])
    rows = {r["case"]: r for r in doc["results"]}
    assert set(rows) == {"dispatch_add", "elementwise"}
    for r in rows.values():
        assert ROW_KEYS <= set(r) and "error" not in r
        assert r["median_ms"] > 0 and r["reference"] == "numpy" and r["reference_ms"] > 0
        assert 0 < r["best_ms"] <= r["median_ms"] and r["ratio"] > 0  # ratio: fastest samples
        assert r["pct_peak"] is None  # CPU: no peak table
    assert rows["elementwise"]["gb_per_s"] == pytest.approx(6 * 4 * (1 << 14) / rows["elementwise"]["median_ms"] / 1e6)
    assert rows["dispatch_add"]["us_per_op"] == pytest.approx(rows["dispatch_add"]["best_ms"] * 1e3)
    assert rows["dispatch_add"]["ratio"] == pytest.approx(rows["dispatch_add"]["reference_best_ms"]
                                                          / rows["dispatch_add"]["best_ms"])


def test_a_failing_case_becomes_an_error_row():
    def broken(p, env):
        raise AttributeError("module 'blaze' has no attribute 'frobnicate'")
    row = runner.run_op_case(Case("broken", broken, {"cpu": [{}]}, [{}]), {}, runner.Env("cpu", True))
    assert row["error"].startswith("AttributeError: module 'blaze'")


def test_no_matching_case_is_an_error(capsys):
    assert runner.main(["--quick", "--filter", "no-such-case"]) == 2


def test_gpu_peak_table_and_roofline():
    assert runner.peaks_for("NVIDIA H100 80GB HBM3")["gb_per_s"] == 3350.0
    assert runner.peaks_for("NVIDIA H200")["bfloat16"] == 989.0
    env = runner.Env("cpu", True)
    env.peaks = runner.PEAKS["H100"]
    bench = dict(dtype="bfloat16", flops=2 * 4096.0 ** 3, bytes=3 * 2 * 4096.0 ** 2, bound="flops")
    assert runner._roofline_s(bench, env) == pytest.approx(2 * 4096 ** 3 / 989e12)
    assert runner._derived(bench, 2 * 4096 ** 3 / 989e12 * 2, env)["pct_peak"] == pytest.approx(50.0)


def _doc(*rows):
    return dict(schema=1, results=[dict(dict(case="c", shape="8", dtype="float32", device="cpu"), **r) for r in rows])


def _write(tmp_path, name, doc):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return str(p)


@pytest.mark.parametrize("base, new, tol, rc", [
    (dict(median_ms=1.0, ratio=0.5, reference="numpy"), dict(median_ms=1.0, ratio=0.2, reference="numpy"), 0.5, 1),
    (dict(median_ms=1.0, ratio=0.5, reference="numpy"), dict(median_ms=9.0, ratio=0.45, reference="numpy"), 0.2, 0),
    (dict(median_ms=1.0, ratio=0.5, reference="numpy"), dict(median_ms=1.0, ratio=0.2, reference="numpy"), 5.0, 0),
    # different references: ratios are not comparable, times are
    (dict(median_ms=1.0, ratio=0.5, reference="numpy"), dict(median_ms=1.3, ratio=9.0, reference="torch"), 0.2, 1),
    (dict(median_ms=1.0), dict(median_ms=1.05), 0.1, 0),
    (dict(median_ms=1.0), dict(median_ms=1.2), 0.1, 1),
    (dict(median_ms=1.0), dict(error="ValueError: boom"), 5.0, 1),
])
def test_compare_flags_regressions_beyond_tolerance(tmp_path, capsys, base, new, tol, rc):
    b, n = _write(tmp_path, "b.json", _doc(base)), _write(tmp_path, "n.json", _doc(new))
    assert compare.main([b, n, "--tolerance", str(tol)]) == rc
    out = capsys.readouterr().out
    assert ("REGRESSION" in out) == (rc == 1) and "FAIL" in out if rc else "ok" in out


def test_compare_ignores_rows_outside_the_filtered_run_and_rejects_bad_input(tmp_path, capsys):
    base = _doc(dict(median_ms=1.0), dict(shape="16", median_ms=1.0))
    new = _doc(dict(median_ms=1.0))
    assert compare.main([_write(tmp_path, "b.json", base), _write(tmp_path, "n.json", new)]) == 0
    assert "1 baseline rows not in NEW" in capsys.readouterr().out
    assert compare.main([_write(tmp_path, "b.json", base), _write(tmp_path, "x.json", {"x": 1})]) == 2
    assert compare.main([_write(tmp_path, "b.json", base), str(tmp_path / "missing.json")]) == 2
    assert compare.main([_write(tmp_path, "b.json", base), _write(tmp_path, "o.json", _doc(dict(shape="99")))]) == 2


def test_fresh_smoke_run_passes_against_the_committed_baseline_and_an_injected_regression_fails(tmp_path):
    base_path = os.path.join(ROOT, "perf", "baselines", "cpu.json")
    new = tmp_path / "new.json"
    assert runner.main(["--quick", "--filter", "reduce_sum,dispatch_add", "--out", str(new)]) == 0
    assert compare.main([base_path, str(new), "--tolerance", "5"]) == 0
    doc = json.loads(new.read_text())
    for r in doc["results"]:
        r["ratio"] /= 20  # blaze 20x slower relative to NumPy
    slow = _write(tmp_path, "slow.json", doc)
    assert compare.main([base_path, slow, "--tolerance", "5"]) == 1


def test_baseline_covers_every_op_case_without_errors():
    with open(os.path.join(ROOT, "perf", "baselines", "cpu.json")) as f:
        base = json.load(f)
    assert base["quick"] is True and base["device"] == "cpu"
    rows = {r["case"]: r for r in base["results"] if r["kind"] == "op"}
    for case in op_cases():
        assert case.name in rows, case.name
        assert "error" not in rows[case.name], rows[case.name]


def test_report_writes_pngs_or_says_matplotlib_is_missing(tmp_path, capsys):
    src = _write(tmp_path, "r.json", dict(device="cpu", device_name="x", results=[
        dict(case="matmul", shape=f"{n}", dtype="float32", median_ms=n / 100, tflop_per_s=n / 1e3,
             reference="numpy", reference_ms=n / 200) for n in (64, 128)]))
    rc = report.main([src, "--out", str(tmp_path / "png")])
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert rc == 1 and "matplotlib is not installed" in capsys.readouterr().err
    else:
        assert rc == 0 and (tmp_path / "png" / "matmul.png").stat().st_size > 0
    unit, pts = report.series(json.loads(open(src).read())["results"])
    assert unit == "TFLOP/s" and [p[0] for p in pts] == ["64", "128"]
    assert pts[0][3] == pytest.approx(2 * pts[0][2])  # the reference ran in half the time


def test_model_rows_are_mapped_onto_the_schema():
    from perf.cases import ModelCase

    class Fake(ModelCase):
        def run(self, quick):
            return [dict(case="train_step/mlp", shape="B=2", dtype="float32", device="cpu", median_s=0.02,
                         ref_median_s=0.01, ratio=2.0, reference="torch 2.13 eager"),
                    dict(case="loader", shape="64", dtype="float32", device="cpu", median_s=0.5, items_per_s=128.0)]
    step, loader = runner.run_model_case(Fake("x", "unused"), runner.Env("cpu", True))
    assert step["median_ms"] == pytest.approx(20.0) and step["reference"] == "torch"
    assert step["ratio"] == pytest.approx(0.5)  # reference / blaze, whatever the module's own ratio means
    assert loader["samples_per_s"] == 128.0 and loader["ratio"] is None and loader["kind"] == "model"


def test_cuda_cases_run_on_the_cuda_device():
    """Emulated here (interpreter); on a GPU machine the same cases time the real kernels."""
    from blaze import _env
    doc = runner.run("cuda", "elementwise,dispatch_add", quick=True)
    assert {r["case"] for r in doc["results"]} == {"elementwise", "dispatch_add"}
    for r in doc["results"]:
        assert "error" not in r and r["device"] == "cuda" and r["median_ms"] > 0
    if _env.interpret():  # no peak table, no roofline, for the interpreter
        assert all(r["reference"] is None and r["pct_peak"] is None for r in doc["results"])
