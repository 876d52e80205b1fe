"""blaze.save / blaze.load: round trips, safety, atomic writes, corrupt files, bit-for-bit resume."""
import io
import json
import math

import numpy as np
import pytest

import blaze
from blaze import nn
from blaze.dtypes import bfloat16
from blaze.optim import SGD, Adam
from blaze.optim.lr_scheduler import StepLR
from blaze.serialization import CheckpointError

DTYPES = [blaze.float32, blaze.float64, blaze.float16, bfloat16, blaze.int64, blaze.int32, blaze.int16,
          blaze.int8, blaze.uint8, blaze.dtypes.bool_]


def _tensor(dtype, shape=(2, 3)):
    a = np.arange(int(np.prod(shape))).reshape(shape) - 2.5
    if dtype is blaze.dtypes.bool_:
        return blaze.tensor(a > 0)
    if not dtype.is_floating_point:
        a = np.abs(a).astype(np.int64) * 7
    return blaze.tensor(a).to(dtype)


def _same(a, b):
    assert isinstance(b, blaze.Tensor) and a.dtype == b.dtype and a.shape == b.shape
    assert a.requires_grad == b.requires_grad
    np.testing.assert_array_equal(a.detach().to(blaze.float64).numpy() if a.dtype is bfloat16 else a.detach().numpy(),
                                  b.detach().to(blaze.float64).numpy() if b.dtype is bfloat16 else b.detach().numpy())


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_every_dtype_round_trips(dtype, tmp_path):
    t = _tensor(dtype)
    blaze.save(t, tmp_path / "t.ckpt")
    _same(t, blaze.load(tmp_path / "t.ckpt"))


def test_bfloat16_bits_exact_and_file_is_standard_safetensors(tmp_path):
    bits = np.array([0x3F80, 0x7F80, 0xFF80, 0x7FC1, 0x0001, 0x8000], dtype=np.uint16)
    t = blaze.from_numpy(bits.view(bfloat16.np).copy())
    blaze.save({"w": t}, tmp_path / "b.ckpt")
    got = blaze.load(tmp_path / "b.ckpt")["w"]
    np.testing.assert_array_equal(got.numpy().view(np.uint16), bits)
    raw = (tmp_path / "b.ckpt").read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    assert header["t0"]["dtype"] == "BF16" and header["__metadata__"]["format"] == "blaze-checkpoint"


def test_nested_structure_round_trips_exactly():
    w = blaze.randn(3, 2).requires_grad_()
    obj = {
        "model": {"layer.weight": w, "layer.bias": blaze.zeros(2)},
        "optim": {"state": {0: {"step": blaze.tensor(3.0)}, 1: {}}, "param_groups": [
            {"lr": 0.1, "betas": (0.9, 0.999), "amsgrad": False, "params": [0, 1]}]},
        "epoch": 7, "loss": 0.1 + 0.2, "nan": math.nan, "inf": -math.inf, "name": "run-1", "none": None,
        "nested": [(1, [2, (3,)]), {"a": []}, {}], "empty_tuple": (), "mixed_keys": {1: "a", "1": "b", None: 2,
                                                                                   (1, 2): 3, 2.5: 4, False: 5},
        "scalar": blaze.tensor(5), "empty": blaze.zeros(0, 4), "dtype": blaze.float16,
        "device": blaze.device("cpu"), "np": np.arange(4, dtype=np.int32),
        "tricky": {"tensor": "t0", "dict": 1, "tuple": [1]},  # user data that looks like our tags
    }
    buf = io.BytesIO()
    blaze.save(obj, buf)
    buf.seek(0)
    got = blaze.load(buf)
    assert set(got) == set(obj)
    _same(obj["model"]["layer.weight"], got["model"]["layer.weight"])
    assert got["optim"]["param_groups"] == obj["optim"]["param_groups"]
    assert isinstance(got["optim"]["param_groups"][0]["betas"], tuple)
    assert list(got["optim"]["state"]) == [0, 1] and float(got["optim"]["state"][0]["step"]) == 3.0
    assert got["epoch"] == 7 and type(got["epoch"]) is int and got["loss"] == 0.1 + 0.2
    assert math.isnan(got["nan"]) and got["inf"] == -math.inf
    assert got["nested"] == obj["nested"] and got["empty_tuple"] == ()
    assert type(got["nested"][0]) is tuple and type(got["nested"][0][1][1]) is tuple
    assert got["mixed_keys"] == obj["mixed_keys"] and got["tricky"] == obj["tricky"]
    assert got["scalar"].shape == () and got["scalar"].dtype == blaze.int64 and got["empty"].shape == (0, 4)
    assert got["dtype"] is blaze.float16 and got["device"] == blaze.device("cpu")
    np.testing.assert_array_equal(got["np"], obj["np"])


def test_same_tensor_twice_is_stored_once_and_loaded_as_one_object():
    t = blaze.ones(1000)
    buf = io.BytesIO()
    blaze.save([t, t, t[:10]], buf)
    assert len(buf.getvalue()) < 1000 * 4 + 10 * 4 + 600
    buf.seek(0)
    a, b, c = blaze.load(buf)
    assert a is b and c is not a
    buf = io.BytesIO()
    blaze.save([t.detach(), t.detach(), t.reshape(10, 100)], buf)  # same memory and layout -> stored once
    buf.seek(0)
    a, b, c = blaze.load(buf)
    assert a is b and c is not a and c.shape == (10, 100)
    c.add_(1)  # views are not shared after loading (documented)
    assert float(a[0]) == 1.0


def test_loaded_tensors_are_writable_and_own_memory(tmp_path):
    blaze.save({"x": blaze.zeros(3)}, tmp_path / "x.ckpt")
    x = blaze.load(tmp_path / "x.ckpt")["x"]
    x.add_(1)
    assert x.tolist() == [1.0, 1.0, 1.0]


def test_unsupported_objects_are_refused():
    with pytest.raises(TypeError, match=r"cannot save the function .*<lambda> \(at obj\['f'\]\): checkpoints "
                                         "store data, not code"):
        blaze.save({"f": lambda: 0}, io.BytesIO())
    with pytest.raises(TypeError, match="cannot save an object of type object"):
        blaze.save([object()], io.BytesIO())


def test_map_location(tmp_path):
    blaze.save({"x": blaze.ones(2)}, tmp_path / "m.ckpt")
    assert blaze.load(tmp_path / "m.ckpt", map_location="cpu")["x"].device == blaze.device("cpu")
    assert blaze.load(tmp_path / "m.ckpt", map_location=blaze.device("cpu"))["x"].device.type == "cpu"
    assert blaze.load(tmp_path / "m.ckpt", map_location={"cuda:0": "cpu"})["x"].device.type == "cpu"


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    import blaze.serialization as ser
    path = tmp_path / "ckpt.safetensors"
    blaze.save({"v": 1, "w": blaze.ones(100)}, path)
    old = path.read_bytes()

    def half_then_fail(fh, data):
        fh.write(data[:len(data) // 2])
        raise OSError("disk full")
    monkeypatch.setattr(ser, "_write_all", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        blaze.save({"v": 2, "w": blaze.zeros(100)}, path)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]  # no temporary left behind
    assert blaze.load(path)["v"] == 1


@pytest.mark.parametrize("cut", [0, 5, 8, 40, -1])
def test_truncated_file_names_the_file(tmp_path, cut):
    path = tmp_path / "cut.ckpt"
    blaze.save({"w": blaze.ones(50), "k": "v"}, path)
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut >= 0 else data[:-7])
    with pytest.raises(CheckpointError, match="cut.ckpt"):
        blaze.load(path)


@pytest.mark.parametrize("payload", [b"\x80\x02}q\x00.", b"not a checkpoint at all, just text" * 10,
                                     (20).to_bytes(8, "little") + b"{" * 20,
                                     (2).to_bytes(8, "little") + b"[]"])
def test_garbage_file(tmp_path, payload):
    path = tmp_path / "junk.bin"
    path.write_bytes(payload)
    with pytest.raises(CheckpointError, match="junk.bin"):
        blaze.load(path)
    assert issubclass(CheckpointError, RuntimeError)


def test_plain_safetensors_file_is_not_a_blaze_checkpoint(tmp_path):
    from safetensors.numpy import save_file
    save_file({"w": np.ones(2, np.float32)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="plain.safetensors.*not a blaze checkpoint"):
        blaze.load(tmp_path / "plain.safetensors")


def test_corrupt_structure_metadata(tmp_path):
    from safetensors.numpy import save_file
    save_file({"t0": np.ones(2, np.float32)}, str(tmp_path / "bad.ckpt"),
              metadata={"format": "blaze-checkpoint", "version": "1", "blaze": '{"tensor": "t9", "dtype": "x"}'})
    with pytest.raises(CheckpointError, match="bad.ckpt.*corrupt"):
        blaze.load(tmp_path / "bad.ckpt")


def _mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


def test_model_state_dict_load_errors(tmp_path):
    blaze.manual_seed(0)
    blaze.save(_mlp().state_dict(), tmp_path / "m.ckpt")
    sd = blaze.load(tmp_path / "m.ckpt")
    wrong_shape = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    with pytest.raises(RuntimeError, match="size mismatch for 0.weight"):
        wrong_shape.load_state_dict(sd)
    renamed = {("x." + k): v for k, v in sd.items()}
    with pytest.raises(RuntimeError, match="Missing key"):
        _mlp().load_state_dict(renamed)


def _batches(n, seed=1):
    rng = np.random.default_rng(seed)
    return [(blaze.tensor(rng.standard_normal((8, 6)), dtype=blaze.float32),
             blaze.tensor(rng.standard_normal((8, 3)), dtype=blaze.float32)) for _ in range(n)]


def _train(model, opt, sched, batches):
    for x, y in batches:
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
    return float(loss)


@pytest.mark.parametrize("make_opt", [lambda p: Adam(p, lr=1e-2, amsgrad=True, weight_decay=1e-3),
                                      lambda p: SGD(p, lr=0.05, momentum=0.9, nesterov=True)],
                         ids=["adam", "sgd-momentum"])
def test_resume_matches_uninterrupted_run_bit_for_bit(make_opt, tmp_path):
    batches = _batches(12)

    def fresh():
        blaze.manual_seed(0)
        model = _mlp()
        opt = make_opt(model.parameters())
        return model, opt, StepLR(opt, step_size=4, gamma=0.5)
    model, opt, sched = fresh()
    full_loss = _train(model, opt, sched, batches)

    model, opt, sched = fresh()
    _train(model, opt, sched, batches[:5])
    blaze.save({"model": model.state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict(), "epoch": 5},
               tmp_path / "resume.ckpt")
    del model, opt, sched
    blaze.manual_seed(123)  # a different init: everything must come from the checkpoint
    model2 = _mlp()
    opt2 = make_opt(model2.parameters())
    sched2 = StepLR(opt2, step_size=4, gamma=0.5)
    ck = blaze.load(tmp_path / "resume.ckpt")
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optim"])
    sched2.load_state_dict(ck["sched"])
    assert ck["epoch"] == 5
    resumed_loss = _train(model2, opt2, sched2, batches[5:])

    model_ref, opt_ref, sched_ref = fresh()
    _train(model_ref, opt_ref, sched_ref, batches)
    assert resumed_loss == full_loss
    for (k, a), (_, b) in zip(model_ref.state_dict().items(), model2.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    assert opt2.param_groups[0]["lr"] == opt_ref.param_groups[0]["lr"]


def test_cuda_tensors_save_via_cpu_and_map_location(tmp_path):
    """cuda tensors (the emulated device in CI) are saved through .cpu(); map_location moves them."""
    x = blaze.arange(6, dtype=blaze.float32).reshape(2, 3).to("cuda")
    blaze.save({"x": x, "opt_step": blaze.tensor(2.0)}, tmp_path / "c.ckpt")
    same = blaze.load(tmp_path / "c.ckpt")
    assert same["x"].device.type == "cuda" and same["opt_step"].device.type == "cpu"
    on_cpu = blaze.load(tmp_path / "c.ckpt", map_location="cpu")["x"]
    assert on_cpu.device.type == "cpu" and on_cpu.tolist() == [[0, 1, 2], [3, 4, 5]]
    to_cuda = blaze.load(tmp_path / "c.ckpt", map_location="cuda")
    assert to_cuda["opt_step"].device.type == "cuda"


# ------------------------------------------------------------------ untrusted files
def _raw_safetensors(header: dict, body: bytes = b"") -> bytes:
    h = json.dumps(header).encode()
    return len(h).to_bytes(8, "little") + h + body


_META = {"format": "blaze-checkpoint", "version": "1", "blaze": '{"tensor": "t0", "dtype": "float32", '
                                                               '"device": "cpu", "requires_grad": false}'}


@pytest.mark.parametrize("entry, why", [
    (dict(dtype="F32", shape=[2 ** 32, 2 ** 32], data_offsets=[0, 0]), "offsets 0..0 do not hold"),  # int64 wraps to 0
    (dict(dtype="F32", shape=[-1], data_offsets=[0, 8]), "integers >= 0"),
    (dict(dtype="F32", shape=[-2, -1], data_offsets=[0, 8]), "integers >= 0"),
    (dict(dtype="F32", shape=["2"], data_offsets=[0, 8]), "integers >= 0"),
    (dict(dtype="F32", shape=[2], data_offsets=[0, 8.0]), "integers >= 0"),
    (dict(dtype="F32", shape=2, data_offsets=[0, 8]), "TypeError"),
    (dict(dtype="F32", shape=[2], data_offsets=[0]), "ValueError"),
    (dict(dtype=["F32"], shape=[2], data_offsets=[0, 8]), "TypeError"),
])
def test_crafted_tensor_headers_name_the_file(tmp_path, entry, why):
    path = tmp_path / "crafted.ckpt"
    path.write_bytes(_raw_safetensors({"__metadata__": _META, "t0": entry}, b"\0" * 8))
    with pytest.raises(CheckpointError, match=f"crafted.ckpt.*{why}"):
        blaze.load(path)


def test_header_nested_2000_deep_names_the_file(tmp_path):
    h = b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    (tmp_path / "deep.ckpt").write_bytes(len(h).to_bytes(8, "little") + h)
    with pytest.raises(CheckpointError, match="deep.ckpt.*unreadable safetensors header"):
        blaze.load(tmp_path / "deep.ckpt")


@pytest.mark.parametrize("metadata", [[1, 2], "blaze", 7])
def test_non_dict_metadata_names_the_file(tmp_path, metadata):
    path = tmp_path / "meta.ckpt"
    path.write_bytes(_raw_safetensors({"__metadata__": metadata}))
    with pytest.raises(CheckpointError, match="meta.ckpt.*__metadata__ is a JSON"):
        blaze.load(path)


_T0 = '{"tensor": "t0", "dtype": "float32", "device": %s, "requires_grad": false}'


@pytest.mark.parametrize("tree", [
    '{"dict": [1]}', '{"tuple": 5}', '{"items": [[1]]}', '{"items": [[[1], 2]]}', '{"dtype": ["x"]}',
    '{"tensor": ["t0"]}', _T0 % '"tpu"', _T0 % '"cpu:-1"', _T0 % "5", '{"device": "tpu"}', '{"device": null}',
    '{"tensor": "t1", "dtype": "int64", "device": "cpu", "requires_grad": true}',
    "[" * 2000 + "]" * 2000, '{"dict": {"a": ' * 2000 + "1" + "}}" * 2000,
])
def test_corrupt_structure_of_any_kind_names_the_file(tmp_path, tree):
    from safetensors.numpy import save_file
    save_file({"t0": np.ones(2, np.float32), "t1": np.ones(2, np.int64)}, str(tmp_path / "tree.ckpt"),
              metadata={"format": "blaze-checkpoint", "version": "1", "blaze": tree})
    with pytest.raises(CheckpointError, match="tree.ckpt.*corrupt"):
        blaze.load(tmp_path / "tree.ckpt")


@pytest.mark.parametrize("map_location, exc, match", [
    ("tpu", ValueError, "map_location 'tpu' is not a device"),
    ("cpu:-1", ValueError, "map_location 'cpu:-1' is not a device"),
    ({"cuda:0": "tpu"}, ValueError, "map_location value 'tpu'"),
    ({5: "cpu"}, ValueError, "map_location key 5"),
    (5, TypeError, "map_location must be None, a device, a string, a dict or a callable, got int"),
])
def test_bad_map_location_is_an_argument_error(tmp_path, map_location, exc, match):
    blaze.save({"x": blaze.ones(2)}, tmp_path / "m.ckpt")
    for f in (tmp_path / "m.ckpt", tmp_path / "missing.ckpt"):  # checked before the file is opened
        with pytest.raises(exc, match=match):
            blaze.load(f, map_location=map_location)


def test_text_mode_file_objects_get_a_clear_message(tmp_path):
    blaze.save({"x": blaze.ones(2)}, tmp_path / "m.ckpt")
    with open(tmp_path / "m.ckpt", encoding="latin-1") as fh, pytest.raises(TypeError, match="text-mode.*'rb'"):
        blaze.load(fh)
    with pytest.raises(TypeError, match="text-mode.*'wb'"):
        blaze.save({"x": 1}, io.StringIO())


def test_save_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    import os
    import stat
    path = tmp_path / "ckpt"
    blaze.save({"v": 1}, path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask       # as open(path, "wb") creates it
    path.chmod(0o640)
    blaze.save({"v": 2}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and blaze.load(path)["v"] == 2


def test_save_writes_through_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    target, link = tmp_path / "real" / "ckpt", tmp_path / "latest"
    blaze.save({"v": 1}, target)
    link.symlink_to(target)
    blaze.save({"v": 2}, link)
    assert link.is_symlink() and blaze.load(target)["v"] == 2
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["ckpt"]


def test_next_save_removes_temporaries_of_killed_saves_only(tmp_path):
    import os
    import subprocess
    import sys
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    names = {f".blaze-{dead.pid}-0123456789ab.tmp": False,      # writer gone: removed
             f".blaze-{os.getpid()}-0123456789ab.tmp": True,    # a save of this process in flight: kept
             f".blaze-{os.getppid()}-0123456789ab.tmp": True,   # a live writer: kept
             f".blaze-{dead.pid}-notours.tmp": True}            # not a name blaze.save makes: kept
    for n in names:
        (tmp_path / n).write_bytes(b"partial")
    blaze.save({"v": 1}, tmp_path / "ckpt")
    assert {n: (tmp_path / n).exists() for n in names} == names
