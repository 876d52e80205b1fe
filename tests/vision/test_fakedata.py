import numpy as np
import pytest

import blaze
from blaze.vision import datasets, transforms


def test_fakedata_items_are_images_and_labels_stable_per_index():
    ds = datasets.FakeData(size=5, image_size=(3, 8, 6), num_classes=4, transform=transforms.ToTensor())
    assert len(ds) == 5
    img, label = ds[2]
    assert img.shape == (3, 8, 6) and img.dtype == blaze.float32 and 0 <= label < 4
    again, label2 = ds[2]
    assert np.array_equal(img.numpy(), again.numpy()) and label == label2
    assert not np.array_equal(img.numpy(), ds[3][0].numpy())
    other = datasets.FakeData(size=5, image_size=(3, 8, 6), random_offset=7, transform=transforms.ToTensor())
    assert not np.array_equal(img.numpy(), other[2][0].numpy())


def test_fakedata_does_not_touch_the_global_random_state():
    blaze.manual_seed(0)
    a = blaze.rand(3)
    blaze.manual_seed(0)
    datasets.FakeData(size=2)[1]
    assert blaze.rand(3).tolist() == a.tolist()


def test_fakedata_grayscale_batches_through_a_dataloader():
    ds = datasets.FakeData(size=6, image_size=(1, 4, 4), transform=transforms.ToTensor())
    x, y = next(iter(blaze.utils.data.DataLoader(ds, batch_size=6)))
    assert x.shape == (6, 1, 4, 4) and y.shape == (6,)


def test_fakedata_bad_arguments():
    with pytest.raises(ValueError, match="image_size"):
        datasets.FakeData(image_size=(2, 4, 4))
    with pytest.raises(IndexError, match="out of range"):
        datasets.FakeData(size=3)[3]
