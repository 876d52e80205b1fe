"""blaze.profiler: exact launch counts, op events with shapes, ranges, Chrome trace, schedule, zero cost."""
import json

import numpy as np
import pytest

import blaze
from blaze import _flags
from blaze.profiler import ProfilerAction, ProfilerActivity, profile, record_function, schedule


def _cuda_pair():
    a = blaze.tensor(np.arange(16, dtype=np.float32), device="cuda")
    return a, a * 2


def test_add_then_sum_on_cuda_is_two_kernel_events():
    a, b = _cuda_pair()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        s = (a + b).sum()
    kernels = [e for e in prof.events() if e.is_kernel]
    assert [e.name for e in kernels] == ["_ew_kernel", "_reduce_kernel"]
    assert kernels[0].args["grid"] == [1] and kernels[0].args["config"]["NIN"] == 2
    assert all(e.cuda_time_total > 0 for e in kernels)  # the emulated device's time is the launch's
    add = next(e for e in prof.events() if e.name == "Add")
    assert add.cuda_time_total == kernels[0].cuda_time_total and add.self_cuda_time_total == 0
    assert prof.kernel_counts() == {"_ew_kernel": 1, "_reduce_kernel": 1}
    assert s.item() == 3 * sum(range(16))


def test_cpu_ops_record_no_kernels_and_cuda_only_records_no_ops():
    a = blaze.ones(3, 4)
    with profile() as prof:
        (a + a).sum()
    assert [e.name for e in prof.events()] == ["Add", "Sum"]
    x, y = _cuda_pair()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        x + y
    assert [e.cat for e in prof.events()] == ["kernel"]


def test_op_events_carry_input_shapes_and_group_by_them():
    a, b = blaze.ones(2, 3), blaze.ones(3)
    with profile(record_shapes=True) as prof:
        a + b
        a + a
    ops = [e for e in prof.events() if e.cat == "op"]
    assert [e.input_shapes for e in ops] == [[[2, 3], [3]], [[2, 3], [2, 3]]]
    assert [e.count for e in prof.key_averages()] == [2]
    by_shape = prof.key_averages(group_by_input_shape=True)
    assert sorted(str(e.input_shapes) for e in by_shape) == ["[[2, 3], [2, 3]]", "[[2, 3], [3]]"]
    assert "Input Shapes" in by_shape.table()


def test_record_function_nests_and_self_time_excludes_children():
    a = blaze.ones(4)

    @record_function("inner")
    def inner():
        return a * a

    with profile() as prof:
        with record_function("outer"):
            inner()
    ev = {e.name: e for e in prof.events()}
    assert list(ev) == ["outer", "inner", "Mul"]
    assert ev["inner"]._ev.parent is ev["outer"]._ev and ev["Mul"]._ev.parent is ev["inner"]._ev
    assert ev["outer"].self_cpu_time_total == pytest.approx(
        ev["outer"].cpu_time_total - ev["inner"].cpu_time_total, abs=1e-3)
    assert ev["outer"].cpu_time_total >= ev["inner"].cpu_time_total >= ev["Mul"].cpu_time_total


def test_host_copies_and_round_trips_are_events():
    with profile() as prof:
        x = blaze.tensor(np.ones(8, np.float32), device="cuda")
        x.cpu()
        _flags.FALLBACKS["test_trip"] += 1
    _flags.FALLBACKS.pop("test_trip")
    names = [e.name for e in prof.events()]
    assert "Memcpy HtoD" in names and "Memcpy DtoH" in names
    assert "host round trip: test_trip" in names
    cp = next(e for e in prof.events() if e.name == "Memcpy HtoD")
    assert cp.args["bytes"] == 32


def test_table_sorts_and_limits_rows():
    a = blaze.ones(4)
    with profile() as prof:
        for _ in range(3):
            a + a
        a * a
    table = prof.key_averages().table(sort_by="count", row_limit=1)
    rows = [r for r in table.splitlines() if r.startswith(("Add", "Mul"))]
    assert len(rows) == 1 and rows[0].startswith("Add") and rows[0].split()[-1] == "3"
    with pytest.raises(ValueError, match="sort_by"):
        prof.key_averages().table(sort_by="nope")
    total = prof.key_averages().total_average()
    assert total.count == 4 and total.self_cpu_time_total > 0


def test_chrome_trace_is_valid_json_with_the_expected_events(tmp_path):
    a, b = _cuda_pair()
    with profile(record_shapes=True) as prof:
        with record_function("step"):
            (a + b).sum()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())["traceEvents"]
    slices = [e for e in trace if e["ph"] == "X"]
    host = [(e["cat"], e["name"]) for e in slices if e["cat"] != "device_kernel"]
    assert host == [("user_annotation", "step"), ("op", "Add"), ("kernel", "_ew_kernel"),
                    ("op", "Sum"), ("kernel", "_reduce_kernel")]
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in slices)
    add = next(e for e in slices if e["name"] == "Add")
    assert add["args"]["Input Dims"] == [[16], [16]]
    assert len([e for e in slices if e["cat"] == "device_kernel"]) == 2


def test_nothing_records_outside_a_profile_and_the_entry_points_are_restored():
    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction

    from blaze.autograd.function import Function
    runs = (JITFunction.run, InterpretedFunction.run)
    a, b = _cuda_pair()
    prof = profile()
    with prof:
        a + b
    assert _flags.profiler is None
    assert (JITFunction.run, InterpretedFunction.run) == runs
    assert Function.__dict__["apply"] is Function.__dict__["_apply"]  # an op pays no profiler check
    n = len(prof.events())
    a + b
    with record_function("idle"):
        a * b
    assert len(prof.events()) == n


def test_one_profiler_at_a_time():
    with profile():
        second = profile()
        with pytest.raises(RuntimeError, match="already enabled"):
            second.start()
        assert second._rec is None
        second.stop()  # never started: nothing to undo
    assert _flags.profiler is None


def test_schedule_actions():
    s = schedule(skip_first=1, wait=1, warmup=1, active=2, repeat=1)
    A = ProfilerAction
    assert [s(i) for i in range(7)] == [A.NONE, A.NONE, A.WARMUP, A.RECORD, A.RECORD_AND_SAVE, A.NONE, A.NONE]
    with pytest.raises(ValueError):
        schedule(wait=-1, warmup=0, active=1)


def test_scheduled_profile_records_only_active_steps_and_hands_each_cycle_over():
    a = blaze.ones(4)
    ready = []
    sched = schedule(wait=1, warmup=1, active=2, repeat=2)
    with profile(schedule=sched, on_trace_ready=lambda p: ready.append(len(p.events()))) as prof:
        for step in range(10):
            for _ in range(step + 1):  # step i makes i+1 ops
                a + a
            prof.step()
    # cycle 1 records steps 2, 3 (3 + 4 ops); cycle 2 steps 6, 7 (7 + 8 ops)
    assert ready == [7, 15]
    assert len(prof.events()) == 15


def test_tensorboard_trace_handler_writes_a_trace(tmp_path):
    a = blaze.ones(4)
    with profile(on_trace_ready=blaze.profiler.tensorboard_trace_handler(str(tmp_path), "w0")):
        a + a
    (f,) = tmp_path.iterdir()
    assert f.name.startswith("w0.") and f.name.endswith(".pt.trace.json")
    assert any(e.get("name") == "Add" for e in json.loads(f.read_text())["traceEvents"])


def test_with_stack_names_the_calling_line():
    a = blaze.ones(4)
    with profile(with_stack=True) as prof:
        a + a
    (e,) = prof.events()
    assert "test_profiler.py" in e.stack[0]


def test_autograd_profiler_reexports():
    from blaze.autograd import profiler
    assert profiler.profile is profile and profiler.record_function is record_function
