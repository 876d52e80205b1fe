"""The NMS kernels vs the NumPy reference (blaze/devices/cpu/vision.py), under the interpreter or on a GPU."""
import numpy as np
import pytest

from blaze.devices.cpu.vision import NumpyVisionPrimitives
from blaze.kernels import nms as K

REF = NumpyVisionPrimitives()


def boxes(rng, n, dtype, spread=60.0):
    xy = rng.uniform(0, spread, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(1, 20, (n, 2))], 1).astype(dtype)


@pytest.mark.parametrize("n", [1, 7, 64, 65, 131])  # one word, a full word, a word and a bit
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nms_matches_reference(dev, n, dtype):
    rng = np.random.default_rng(n)
    b = boxes(rng, n, dtype)
    for thr in (0.0, 0.25, 0.6):
        keep = dev.get(K.nms_sorted(dev.put(b), thr))
        assert keep.dtype == np.int8
        np.testing.assert_array_equal(keep, REF.nms_sorted(b, thr), err_msg=f"threshold {thr}")


def test_nms_all_overlapping_and_degenerate(dev):
    b = np.array([[0, 0, 10, 10]] * 70 + [[5, 5, 5, 5]] * 3, np.float32)  # 0-area boxes: IoU 0/0 never suppresses
    keep = dev.get(K.nms_sorted(dev.put(b), 0.5))
    assert keep.tolist() == [1] + [0] * 69 + [1, 1, 1]
    np.testing.assert_array_equal(keep, REF.nms_sorted(b, 0.5))


def test_nms_strided_rows_and_configs(dev):
    rng = np.random.default_rng(3)
    b = boxes(rng, 100, "float32", spread=30.0)
    wide = np.zeros((100, 7), np.float32)
    wide[:, :4] = b
    src = dev.put(wide)
    view = src.view_as((100, 4), (7, 1)) if hasattr(src, "view_as") else type(src)(src.array[:, :4])
    for cfg in K.NMS_CONFIGS[:3]:
        np.testing.assert_array_equal(dev.get(K.nms_sorted(view, 0.3, config=cfg)), REF.nms_sorted(b, 0.3))


def test_nms_rejects_bad_buffers(dev):
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        K.nms_sorted(dev.put(np.zeros((3, 5), np.float32)), 0.5)
    with pytest.raises(TypeError, match="not supported"):
        K.nms_sorted(dev.put(np.zeros((3, 4), np.int32)), 0.5)
    assert dev.get(K.nms_sorted(dev.put(np.zeros((0, 4), np.float32)), 0.5)).shape == (0,)


def test_nms_is_registered():
    from blaze.kernels.registry import config_error, tunables
    t = tunables()["nms"]
    assert all(config_error(t, c) is None for c in t.configs)
