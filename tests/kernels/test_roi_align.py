"""The RoIAlign kernels vs the NumPy reference (blaze/devices/cpu/vision.py), under the interpreter or on a GPU.

Shapes stay small: the interpreter runs one program per (RoI, output cell), ~0.2 s each with samples."""
import numpy as np
import pytest

from blaze.devices.cpu.vision import NumpyVisionPrimitives
from blaze.kernels import roi_align as K
from tests.kernels.helpers import BF16, rel_err

REF = NumpyVisionPrimitives()
TOL = {"float32": 1e-5, "float64": 1e-12, "float16": 2e-3, "bfloat16": 2e-2}


def rois_for(rng, k, n, lo=-3.0, hi=9.0, dtype="float32"):
    xy = rng.uniform(lo, hi, (k, 2))
    r = np.concatenate([rng.integers(0, n, (k, 1)), xy, xy + rng.uniform(0, 7, (k, 2))], 1)
    r[0, 1:] = [2.0, 3.0, 2.3, 3.1]  # under a pixel: the legacy 1x1 clamp
    return r.astype(dtype)


@pytest.mark.parametrize("aligned,sr,scale", [(False, -1, 1.0), (True, 2, 0.5), (True, 0, 1.0), (False, 1, 0.75)])
def test_roi_align_forward_backward_matches_reference(dev, aligned, sr, scale):
    rng = np.random.default_rng(sr + 5)
    x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
    rois = rois_for(rng, 3, 2)
    y = dev.get(K.roi_align(dev.put(x), dev.put(rois), (2, 3), scale, sr, aligned))
    ref = REF.roi_align(x.astype(np.float64), rois.astype(np.float64), (2, 3), scale, sr, aligned)
    assert rel_err(y, ref) < TOL["float32"]
    g = rng.standard_normal(ref.shape).astype(np.float32)
    dx = dev.get(K.roi_align_backward(dev.put(g), dev.put(rois), x.shape, scale, sr, aligned))
    dref = REF.roi_align_backward(g.astype(np.float64), rois.astype(np.float64), x.shape, scale, sr, aligned)
    assert dx.dtype == np.float32 and rel_err(dx, dref) < TOL["float32"]


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_roi_align_dtypes_and_strided_input(dev, dtype):
    if dtype == "bfloat16" and BF16 is None:
        pytest.skip("ml_dtypes is not installed")
    np_dt = BF16 if dtype == "bfloat16" else np.dtype(dtype)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 5, 6, 6)).astype(np_dt)
    rois = rois_for(rng, 2, 1, dtype=np_dt)
    xt = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # channels-last strides
    buf = dev.put(xt) if not hasattr(dev.put(xt), "view_as") else None
    if buf is None:  # DeviceArrays upload contiguous copies: strides come from a view instead
        base = dev.put(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
        buf = base.view_as(x.shape, (6 * 6 * 5, 1, 6 * 5, 5))
    y = dev.get(K.roi_align(buf, dev.put(rois), (2, 2), 1.0, 2, True))
    ref = REF.roi_align(x.astype(np.float64), rois.astype(np.float64), (2, 2), 1.0, 2, True)
    assert y.dtype == np_dt and rel_err(y, ref) < TOL[dtype]


def test_roi_align_configs_and_registry(dev):
    from blaze.kernels.registry import config_error, tunables
    t = tunables()["roi_align"]
    assert all(config_error(t, c) is None for c in t.configs)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 40, 5, 5)).astype(np.float32)  # C = 40: a partial channel block
    rois = rois_for(rng, 2, 1, hi=4.0)
    ref = REF.roi_align(x, rois, (1, 2), 1.0, 2, False)
    for cfg in t.configs[:2]:
        assert rel_err(dev.get(K.roi_align(dev.put(x), dev.put(rois), (1, 2), 1.0, 2, False, config=cfg)), ref) < 1e-5


def test_roi_align_rejects_bad_rois(dev):
    x = dev.put(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"shape \(K, 5\)"):
        K.roi_align(x, dev.put(np.zeros((2, 4), np.float32)), (1, 1))
