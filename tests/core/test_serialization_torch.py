"""PyTorch's checkpoint files: reading torch-written fixtures, writing files torch reads, refusing code.

The fixtures were written once by PyTorch (perf/make_torch_fixtures.py); torch is not imported
here. perf/torch_ckpt_roundtrip.py checks blaze-written files against torch.load itself.
"""
import io
import os
import pickle
import pickletools
import struct
import zipfile

import numpy as np
import pytest

import blaze
from blaze import nn
from blaze.serialization import CheckpointError

FIX = os.path.join(os.path.dirname(__file__), "..", "fixtures", "torch_ckpt")
REF = dict(np.load(os.path.join(FIX, "state_dict.npz")))


def _bits(t):
    a = t.detach().numpy()
    return a.view(np.uint16) if t.dtype is blaze.bfloat16 else a


def _expected(sd):
    out = {}
    for k in sd:
        out[k] = REF[k + "@bf16"] if k + "@bf16" in REF else REF[k]
    return out


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.fc = nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


@pytest.mark.parametrize("name", ["state_dict.pt", "legacy.pt"])
def test_torch_written_state_dict_equals_recorded_arrays(name):
    sd = blaze.load(os.path.join(FIX, name))
    assert len(sd) == 18 and list(sd)[:3] == ["conv.weight", "conv.bias", "bn.weight"]
    dtypes = {"bf16": blaze.bfloat16, "f16": blaze.float16, "i32": blaze.int32, "mask": blaze.bool,
              "u8": blaze.uint8, "f64": blaze.float64, "bn.num_batches_tracked": blaze.int64}
    for k, want in _expected(sd).items():
        t = sd[k]
        assert isinstance(t, blaze.Tensor) and not t.requires_grad
        assert t.dtype is dtypes.get(k, blaze.float32), k
        assert t.shape == want.shape, k
        np.testing.assert_array_equal(_bits(t), want, err_msg=k)
    assert sd["bn.num_batches_tracked"].item() == 7


@pytest.mark.parametrize("name", ["state_dict.pt", "legacy.pt"])
def test_views_of_one_storage_share_memory_again(name):
    sd = blaze.load(os.path.join(FIX, name))
    # transposed = base.t(), row1 = base[1], cols = base[:, 2:4]: one storage of 24 floats in torch
    assert sd["transposed"].numpy().strides == (4, 24)
    assert np.shares_memory(sd["row1"].numpy(), sd["cols"].numpy())
    sd["row1"].numpy()[2] = -1.0  # base[1, 2] is cols[1, 0] and transposed[2, 1]
    assert sd["cols"][1, 0].item() == -1.0 and sd["transposed"][2, 1].item() == -1.0


@pytest.mark.parametrize("name", ["state_dict.pt", "legacy.pt"])
def test_model_load_state_dict_of_a_torch_file_gives_torchs_output(name):
    sd = blaze.load(os.path.join(FIX, name))
    net = Net()
    net.load_state_dict({k: v for k, v in sd.items() if k in net.state_dict()})
    y = net.eval()(blaze.from_numpy(REF["forward:x"]))
    np.testing.assert_allclose(y.detach().numpy(), REF["forward:y"], atol=1e-5)


@pytest.mark.parametrize("weights_only", [None, True, False])
def test_whole_torch_module_is_refused_naming_the_class(weights_only):
    with pytest.raises(pickle.UnpicklingError, match=r"whole_module.pt.*GLOBAL __main__\.Net .*"
                       r"add_safe_globals\(\[Net\]\).*Nothing from the file was run"):
        blaze.load(os.path.join(FIX, "whole_module.pt"), weights_only=weights_only)


@pytest.mark.parametrize("weights_only", [True, False])
def test_malicious_pickle_is_refused_without_running(weights_only):
    marker = os.path.join(FIX, "PWNED")
    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL (posix|nt)\.system was not an allowed global"):
        blaze.load(os.path.join(FIX, "malicious.pt"), weights_only=weights_only)
    assert not os.path.exists(marker)


def test_map_location_forms_on_a_torch_file():
    path = os.path.join(FIX, "state_dict.pt")
    seen = []

    def to_double(t, loc):
        seen.append(loc)
        return t.double()

    sd = blaze.load(path, map_location=to_double)
    assert set(seen) == {"cpu"} and sd["fc.bias"].dtype is blaze.float64
    assert blaze.load(path, map_location=lambda s, loc: s)["fc.bias"].dtype is blaze.float32
    for ml in ("cpu", blaze.device("cpu"), {"cpu": "cpu"}):
        assert blaze.load(path, map_location=ml)["fc.bias"].device.type == "cpu"
    with pytest.raises(TypeError, match="map_location returned int, not a tensor"):
        blaze.load(path, map_location=lambda s, loc: 3)


def test_mmap_maps_storages_copy_on_write(tmp_path):
    path = tmp_path / "m.pt"
    blaze.save({"w": blaze.arange(64, dtype=blaze.float32)}, path)
    before = path.read_bytes()
    w = blaze.load(path, mmap=True)["w"]
    assert isinstance(w.numpy().base, np.memmap) or isinstance(w.numpy(), np.memmap) or \
        any(isinstance(b, np.memmap) for b in _bases(w.numpy()))
    w.add_(1)
    assert w[0].item() == 1.0 and path.read_bytes() == before
    assert blaze.load(os.path.join(FIX, "state_dict.pt"), mmap=True)["fc.bias"].tolist() == REF["fc.bias"].tolist()


def _bases(a):
    while a is not None:
        yield a
        a = a.base


# ------------------------------------------------------------------------------- writing
def _state_dict():
    blaze.manual_seed(0)
    net = Net()
    sd = net.state_dict()
    sd.update(bf16=blaze.randn(3, 5).to(blaze.bfloat16), f16=blaze.randn(4).to(blaze.float16),
              i32=blaze.tensor([1, -2, 3], dtype=blaze.int32), mask=blaze.tensor([True, False, True]),
              u8=blaze.tensor([[0, 255]], dtype=blaze.uint8), f64=blaze.tensor(2.5, dtype=blaze.float64),
              transposed=blaze.arange(24, dtype=blaze.float32).reshape(4, 6).t())
    return sd


def _pickle_of(data: bytes):
    z = zipfile.ZipFile(io.BytesIO(data))
    return z, next(n for n in z.namelist() if n.endswith("/data.pkl"))


def _globals_and_opcodes(pkl: bytes):
    ops, globs = set(), set()
    for op, arg, _ in pickletools.genops(pkl):
        ops.add(op.name)
        if op.name == "GLOBAL":
            globs.add(arg)
    return globs, ops


def test_blaze_written_pt_reads_back_exactly(tmp_path):
    sd = _state_dict()
    blaze.save(sd, tmp_path / "x.pt")
    back = blaze.load(tmp_path / "x.pt")
    assert type(back) is type(sd) and list(back) == list(sd)
    for k in sd:
        assert back[k].dtype is sd[k].dtype and back[k].shape == sd[k].shape
        np.testing.assert_array_equal(_bits(back[k]), _bits(sd[k]))


def test_blaze_written_pt_uses_only_the_globals_and_opcodes_torch_writes(tmp_path):
    blaze.save(_state_dict(), tmp_path / "x.pt")
    data = (tmp_path / "x.pt").read_bytes()
    assert data[:4] == b"PK\x03\x04"
    mine, name = _pickle_of(data)
    with open(os.path.join(FIX, "state_dict.pt"), "rb") as f:
        theirs, tname = _pickle_of(f.read())
    my_globs, my_ops = _globals_and_opcodes(mine.read(name))
    their_globs, their_ops = _globals_and_opcodes(theirs.read(tname))
    assert my_globs == their_globs  # same dtypes in both: the same rebuild functions and storage types
    assert my_ops <= their_ops
    assert pickletools.genops(mine.read(name)).__next__()[1] == 2  # protocol 2, as torch.save
    prefix = name[:-len("data.pkl")]
    names = set(mine.namelist())
    assert {prefix + "byteorder", prefix + "version", prefix + "data/0"} <= names
    assert mine.read(prefix + "byteorder") == b"little" and mine.read(prefix + "version") == b"3\n"
    for info in mine.infolist():  # storages start on 64-byte boundaries, as torch aligns them
        if "/data/" in info.filename:
            n, e = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
            assert (info.header_offset + 30 + n + e) % 64 == 0 and info.compress_type == zipfile.ZIP_STORED


def test_tied_tensors_are_one_storage_in_a_pt_file(tmp_path):
    w = blaze.randn(3, 3)
    blaze.save({"a": w, "b": w}, tmp_path / "t.pt")
    z, name = _pickle_of((tmp_path / "t.pt").read_bytes())
    assert sum("/data/" in n for n in z.namelist()) == 1
    back = blaze.load(tmp_path / "t.pt")
    assert back["a"] is back["b"]


def test_format_is_chosen_by_extension_or_argument(tmp_path):
    x = {"x": blaze.ones(2)}
    for name, magic in (("a.pt", b"PK"), ("a.pth", b"PK"), ("a.bin", b"PK"), ("a.pth.tar", b"PK"),
                        ("a.ckpt", None), ("a.safetensors", None)):
        blaze.save(x, tmp_path / name)
        head = (tmp_path / name).read_bytes()[:2]
        assert (head == b"PK") == (magic is not None), name
        assert blaze.load(tmp_path / name)["x"].tolist() == [1.0, 1.0]
    f = io.BytesIO()
    blaze.save(x, f, format="torch")
    assert f.getvalue()[:2] == b"PK"
    with pytest.raises(ValueError, match="format must be 'torch' or 'blaze', got 'pickle'"):
        blaze.save(x, io.BytesIO(), format="pickle")


# ------------------------------------------------------------------------------- crafted files
def _zip(pkl: bytes, storages=None, byteorder="little") -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", byteorder)
        for k, v in (storages or {}).items():
            z.writestr(f"archive/data/{k}", v)
    out.seek(0)
    return out


def _tensor_pickle(size: int, stride: int = 1, offset: int = 0, numel: int = 4) -> bytes:
    return (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
            b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpu" + bytes([75, numel]) + b"tQ" + bytes([75, offset]) +
            bytes([75, size]) + b"\x85" + bytes([75, stride]) + b"\x85\x89)tR.")


def test_crafted_tensor_pickle_reads_right():
    t = blaze.load(_zip(_tensor_pickle(2, 2, 1), {"0": np.arange(4, dtype=np.float32).tobytes()}))
    assert t.tolist() == [1.0, 3.0]


def test_big_endian_storages_are_swapped():
    t = blaze.load(_zip(_tensor_pickle(4), {"0": np.arange(4, dtype=">f4").tobytes()}, byteorder="big"))
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_legacy_header_with_a_global_is_refused():
    data = pickle.dumps(0x1950a86a20f9469cfc6c, 2) + pickle.dumps(1001, 2) + b"\x80\x02cos\nsystem\n."
    with pytest.raises(pickle.UnpicklingError, match=r"GLOBAL os\.system in a legacy checkpoint header"):
        blaze.load(io.BytesIO(data))


@pytest.mark.parametrize("size, stride, offset, numel, nbytes, match", [
    (16, 1, 0, 4, 16, "reads element 15 of a storage of 4"),
    (2, 3, 2, 4, 16, "reads element 5 of a storage of 4"),
    (4, 1, 0, 4, 12, "holds 12 bytes, its id says 4 elements"),
])
def test_out_of_bounds_tensors_are_refused(size, stride, offset, numel, nbytes, match):
    with pytest.raises(pickle.UnpicklingError, match=match):
        blaze.load(_zip(_tensor_pickle(size, stride, offset, numel), {"0": b"\0" * nbytes}))


def test_calling_a_blaze_class_from_a_file_is_refused():
    # REDUCE on an allowed class would run its __init__ with the file's arguments
    pkl = b"\x80\x02cblaze.nn.modules.linear\nLinear\nK\x03K\x04\x86R."
    with pytest.raises(pickle.UnpicklingError, match=r"asks to call blaze\.nn\.modules\.linear\.Linear"):
        blaze.load(_zip(pkl), weights_only=False)


@pytest.mark.parametrize("pkl", [
    b"\x80\x02cbuiltins\neval\nX\x01\x00\x00\x001\x85R.",
    b"\x80\x02cbuiltins\ngetattr\n.",
    b"\x80\x02ccollections\ndefaultdict\ncbuiltins\nprint\n\x85R.",
])
def test_code_globals_are_refused(pkl):
    with pytest.raises(pickle.UnpicklingError, match="not an allowed global|not allowed"):
        blaze.load(_zip(pkl), weights_only=False)


@pytest.mark.parametrize("cut", [30, 200, -30])
def test_truncated_pt_files_name_the_file(tmp_path, cut):
    blaze.save(_state_dict(), tmp_path / "x.pt")
    data = (tmp_path / "x.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[:cut])
    with pytest.raises((CheckpointError, pickle.UnpicklingError), match="cut.pt"):
        blaze.load(tmp_path / "cut.pt")


def test_cuda_tensors_keep_their_location_in_a_pt_file(tmp_path):
    """The location string torch writes ("cuda:0") is kept; map_location moves tensors as in torch.load."""
    x = blaze.arange(6, dtype=blaze.float32).reshape(2, 3).to("cuda")
    blaze.save({"x": x, "step": blaze.tensor(2.0)}, tmp_path / "c.pt")
    z, name = _pickle_of((tmp_path / "c.pt").read_bytes())
    assert b"cuda:0" in z.read(name)
    same = blaze.load(tmp_path / "c.pt")
    assert same["x"].device.type == "cuda" and same["step"].device.type == "cpu"
    assert same["x"].cpu().tolist() == [[0, 1, 2], [3, 4, 5]]
    on_cpu = blaze.load(tmp_path / "c.pt", map_location={"cuda:0": "cpu"})
    assert on_cpu["x"].device.type == "cpu" and on_cpu["x"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert blaze.load(tmp_path / "c.pt", map_location="cuda")["step"].device.type == "cuda"


def test_zip_bomb_and_oversized_legacy_storage_are_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02N." + b"\0" * 5_000_000)
    out.seek(0)
    with pytest.raises(CheckpointError, match="inflates from"):
        blaze.load(out)
    tree = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
            b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpu\x8a\x05\x00\x00\x00\x00\x01NtQK\x00K\x01\x85K\x01\x85\x89)tR.")
    data = pickle.dumps(0x1950a86a20f9469cfc6c, 2) + pickle.dumps(1001, 2) + pickle.dumps({}, 2) + tree
    with pytest.raises(pickle.UnpicklingError, match="claims 4294967296 elements of float32"):
        blaze.load(io.BytesIO(data))


def test_mmap_needs_a_path():
    with open(os.path.join(FIX, "state_dict.pt"), "rb") as f, \
            pytest.raises(ValueError, match="f must be a file path in order to use the mmap argument"):
        blaze.load(f, mmap=True)
