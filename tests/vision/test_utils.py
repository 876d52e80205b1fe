"""make_grid / save_image against the layout and rounding torchvision uses."""
import numpy as np
import pytest
from PIL import Image

import blaze
from blaze.vision.utils import make_grid, save_image


def test_make_grid_layout():
    imgs = np.stack([np.full((1, 4, 5), i + 1, np.float32) for i in range(5)])  # (5, 1, 4, 5)
    grid = make_grid(blaze.from_numpy(imgs), nrow=3, padding=2, pad_value=0.5).numpy()
    assert grid.shape == (3, 2 * (4 + 2) + 2, 3 * (5 + 2) + 2)  # grey becomes 3 channels
    assert grid[0, 2, 2] == 1 and grid[0, 2, 9] == 2 and grid[2, 8, 2] == 4 and grid[1, 8, 9] == 5
    assert grid[0, 0, 0] == 0.5 and grid[0, 8, 16] == 0.5  # padding and the empty 6th cell
    single = make_grid([blaze.from_numpy(imgs[0])])
    assert tuple(single.shape) == (3, 4, 5)


def test_make_grid_normalize():
    x = np.stack([np.linspace(-2, 2, 12, dtype=np.float32).reshape(1, 3, 4),
                  np.linspace(0, 1, 12, dtype=np.float32).reshape(1, 3, 4)])
    g = make_grid(blaze.from_numpy(x), padding=0, normalize=True).numpy()
    assert g.min() == 0 and g.max() == 1
    np.testing.assert_allclose(g[0, :, :4], (x[0, 0] + 2) / 4, rtol=1e-6)
    each = make_grid(blaze.from_numpy(x), padding=0, normalize=True, scale_each=True).numpy()
    np.testing.assert_allclose(each[0, :, 4:], x[1, 0], rtol=1e-6)
    clipped = make_grid(blaze.from_numpy(x), padding=0, normalize=True, value_range=(0, 1)).numpy()
    assert clipped[0, 0, 0] == 0
    with pytest.raises(TypeError):
        make_grid(blaze.from_numpy(x), normalize=True, value_range=[0, 1])


def test_save_image(tmp_path):
    x = np.random.default_rng(0).random((4, 3, 6, 7)).astype(np.float32)
    path = tmp_path / "grid.png"
    save_image(blaze.from_numpy(x), path, nrow=2, padding=1)
    saved = np.asarray(Image.open(path))
    ref = make_grid(blaze.from_numpy(x), nrow=2, padding=1).numpy()
    assert saved.shape == (ref.shape[1], ref.shape[2], 3)
    np.testing.assert_array_equal(saved, np.clip(ref * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0))
