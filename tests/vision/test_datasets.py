"""Datasets on the real data in ../shared/data, the bundled subset, and files written here in the exact formats."""
import gzip
import os
import pickle

import numpy as np
import pytest
from PIL import Image

import blaze
from blaze.vision import transforms as T
from blaze.vision.datasets import (CIFAR10, CIFAR100, CorruptDatasetError, DatasetNotFoundError, FashionMNIST,
                                   ImageFolder, MNIST, bundled_fashion_mnist, read_idx)


def _idx_bytes(arr, magic):
    return magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape) + arr.tobytes()


def _write_mnist(folder, n=5, gz=True, prefix="train", seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    for stem, arr, magic in ((f"{prefix}-images-idx3-ubyte", images, 2051), (f"{prefix}-labels-idx1-ubyte", labels, 2049)):
        data = _idx_bytes(arr, magic)
        if gz:
            with gzip.open(folder / (stem + ".gz"), "wb") as f:
                f.write(data)
        else:
            (folder / stem).write_bytes(data)
    return images, labels


def test_real_fashion_mnist_and_mnist(shared_data):
    test = FashionMNIST(shared_data / "fashion-mnist", train=False)
    assert len(test) == 10000 and np.bincount(test.targets.numpy()).tolist() == [1000] * 10
    img, label = test[0]
    assert isinstance(img, Image.Image) and img.size == (28, 28) and img.mode == "L" and label == 9  # ankle boot
    mnist = MNIST(shared_data, train=False)  # root/<folder> layout: ../shared/data/mnist
    assert len(mnist) == 10000 and mnist[0][1] == 7
    assert mnist.data.dtype == blaze.uint8 and tuple(mnist.data.shape) == (10000, 28, 28)


def test_bundled_subset_is_the_head_of_the_real_data(shared_data):
    train, test = bundled_fashion_mnist(True), FashionMNIST(train=False)
    assert len(train) == 10000 and len(test) == 2000
    full = read_idx(shared_data / "fashion-mnist" / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(test.data.numpy(), full[:2000])
    assert set(np.bincount(train.targets.numpy()).tolist()) <= set(range(900, 1100))
    x, y = bundled_fashion_mnist(False, transform=T.ToTensor())[3]
    assert tuple(x.shape) == (1, 28, 28) and x.dtype == blaze.float32 and isinstance(y, int)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_written_here_gz_and_raw(tmp_path, gz):
    images, labels = _write_mnist(tmp_path, gz=gz)
    ds = MNIST(tmp_path, target_transform=lambda y: y * 10)
    assert len(ds) == 5
    np.testing.assert_array_equal(np.asarray(ds[2][0]), images[2])
    assert ds[2][1] == labels[2] * 10


def test_torchvision_raw_layout(tmp_path):
    images, _ = _write_mnist(tmp_path / "FashionMNIST" / "raw", prefix="t10k")
    ds = FashionMNIST(tmp_path, train=False)
    np.testing.assert_array_equal(ds.data.numpy(), images)
    _write_mnist(tmp_path / "MNIST" / "raw", gz=False)
    assert len(MNIST(tmp_path)) == 5


def test_missing_dataset_names_the_places(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        MNIST(tmp_path / "nowhere")
    assert isinstance(info.value, FileNotFoundError)
    msg = str(info.value)
    assert str(tmp_path / "nowhere") in msg and "MNIST" in msg and "download=True" in msg
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        CIFAR10(tmp_path)


def test_corrupt_idx_files(tmp_path):
    _write_mnist(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    good = path.read_bytes()
    path.write_bytes(b"\x00\x00\x08\x03" + good[4:-100])  # truncated data
    with pytest.raises(CorruptDatasetError, match="train-images-idx3-ubyte.*truncated"):
        MNIST(tmp_path)
    path.write_bytes(b"PK\x03\x04" + good[4:])  # bad magic
    with pytest.raises(CorruptDatasetError, match="train-images-idx3-ubyte.*magic"):
        MNIST(tmp_path)
    path.write_bytes(good[:4] + good[4:])
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(good)  # images where labels belong
    with pytest.raises(CorruptDatasetError, match="2049"):
        MNIST(tmp_path)
    gz = tmp_path / "gz"
    _write_mnist(gz)
    blob = (gz / "train-images-idx3-ubyte.gz").read_bytes()
    (gz / "train-images-idx3-ubyte.gz").write_bytes(blob[: len(blob) // 2])  # truncated gzip stream
    with pytest.raises(CorruptDatasetError, match="train-images-idx3-ubyte.gz"):
        MNIST(gz)


def test_gzip_bomb_stops_at_the_size_the_header_promises(tmp_path, monkeypatch):
    import blaze.vision.datasets.mnist as ds
    _write_mnist(tmp_path, n=2)
    images = _idx_bytes(np.zeros((2, 28, 28), np.uint8), 2051)
    read = []
    real_read = gzip.GzipFile.read

    def counting_read(self, size=-1):
        out = real_read(self, size)
        read.append(len(out))
        return out
    monkeypatch.setattr(gzip.GzipFile, "read", counting_read)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:  # 64 MiB of zeros past the data
        f.write(images + bytes(64 << 20))
    with pytest.raises(CorruptDatasetError, match="train-images-idx3-ubyte.gz: holds more data than its header"):
        MNIST(tmp_path)
    assert sum(read) <= len(images) + 1                               # never decompressed past the header's size
    big = (2051).to_bytes(4, "big") + b"".join((1 << 16).to_bytes(4, "big") for _ in range(3))
    (tmp_path / "big").write_bytes(big)
    with pytest.raises(CorruptDatasetError, match=f"needs {1 << 48} bytes, over the {ds.MAX_IDX_BYTES}-byte"):
        read_idx(tmp_path / "big")


def _write_cifar_batch(path, n, seed, label_key=b"labels"):
    rng = np.random.default_rng(seed)
    batch = {b"batch_label": b"training batch", label_key: rng.integers(0, 10, n).tolist(),
             b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"filenames": [b"img_%d.png" % i for i in range(n)]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)  # CIFAR's files are Python 2 pickles: protocol 2
    return batch


def test_cifar10_from_pickle_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = [_write_cifar_batch(folder / f"data_batch_{i}", 3, i) for i in range(1, 6)]
    test = _write_cifar_batch(folder / "test_batch", 4, 9)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                                      b"horse", b"ship", b"truck"]}, f, protocol=2)
    ds = CIFAR10(tmp_path)
    assert len(ds) == 15 and ds.classes[1] == "automobile"
    img, label = ds[4]  # batch 2, item 1
    row = batches[1][b"data"][1]
    assert img.mode == "RGB" and img.size == (32, 32) and label == batches[1][b"labels"][1]
    arr = np.asarray(img)
    np.testing.assert_array_equal(arr[..., 0], row[:1024].reshape(32, 32))  # R plane first
    np.testing.assert_array_equal(arr[..., 2], row[2048:].reshape(32, 32))
    t = CIFAR10(folder, train=False, transform=T.ToTensor())
    assert len(t) == 4 and t[0][1] == test[b"labels"][0] and tuple(t[0][0].shape) == (3, 32, 32)


def test_cifar100(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    b = _write_cifar_batch(folder / "train", 6, 0, label_key=b"fine_labels")
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [b"c%d" % i for i in range(100)]}, f, protocol=2)
    ds = CIFAR100(tmp_path)
    assert len(ds) == 6 and ds[5][1] == b[b"fine_labels"][5] and ds.classes[3] == "c3"


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch " + os.environ.get("BLAZE_EVIL_MARK", "/nonexistent/x"),))


def test_cifar_refuses_code_in_pickles(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    mark = tmp_path / "pwned"
    monkeypatch.setenv("BLAZE_EVIL_MARK", str(mark))
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": [0]}, f, protocol=2)
    with pytest.raises(CorruptDatasetError, match="refusing to load .*system"):
        CIFAR10(tmp_path, train=False)
    assert not mark.exists()
    (folder / "test_batch").write_bytes(b"\x80\x02}q\x00(")  # truncated pickle
    with pytest.raises(CorruptDatasetError, match="test_batch"):
        CIFAR10(tmp_path, train=False)


@pytest.mark.parametrize("field, value, message", [
    (b"labels", [0, 10 ** 30, 1], "'labels' is not 3 integer labels"),       # once: range(10**30) class names
    (b"labels", [0, 10, 1], r"labels span \[0, 10\], outside \[0, 9\]"),
    (b"labels", [0, -1, 1], r"labels span \[-1, 1\]"),
    (b"labels", [0, 1.5, 1], "'labels' is not 3 integer labels"),
    (b"labels", [0, 1], "'labels' is not 3 integer labels"),
    (b"data", np.full((3, 3072), 300, np.int64), r"pixel values span \[300, 300\], outside \[0, 255\]"),  # not 44
    (b"data", np.full((3, 3072), -1, np.int64), "outside"),
    (b"data", np.zeros((3, 3072), np.float32), "expected integers"),
    (b"data", np.zeros((2, 3 * 3072), np.uint8), "expected integers of shape"),
    (b"data", [[1, 2], [3]], "unexpected CIFAR batch contents"),
])
def test_cifar_values_out_of_range_are_refused(tmp_path, field, value, message):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batch = {b"labels": [0, 1, 2], b"data": np.zeros((3, 3072), np.uint8), field: value}
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(batch, f, protocol=2)
    with pytest.raises(CorruptDatasetError, match="test_batch: .*" + message):
        CIFAR10(tmp_path, train=False)


def test_cifar_meta_must_name_every_class(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    _write_cifar_batch(folder / "test_batch", 3, 0)
    assert CIFAR10(tmp_path, train=False).classes == [str(i) for i in range(10)]   # no meta: 10 names
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"a", b"b"]}, f, protocol=2)
    with pytest.raises(CorruptDatasetError, match="batches.meta: 'label_names' is not a list of 10 names"):
        CIFAR10(tmp_path, train=False)


def test_image_folder_survives_symlink_cycles_and_names_corrupt_images(tmp_path):
    (tmp_path / "cat" / "sub").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "cat" / "a.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "cat" / "sub" / "b.png")
    os.symlink(tmp_path / "cat", tmp_path / "cat" / "sub" / "loop")       # cat/sub/loop -> cat
    os.symlink(tmp_path / "cat" / "sub", tmp_path / "cat" / "again")      # a second way in, not a cycle
    ds = ImageFolder(tmp_path)
    rel = [os.path.relpath(p, tmp_path) for p, _ in ds.samples]
    assert rel == [os.path.join("cat", "a.png"), os.path.join("cat", "again", "b.png"),
                   os.path.join("cat", "sub", "b.png")]
    png = (tmp_path / "cat" / "a.png").read_bytes()
    (tmp_path / "cat" / "a.png").write_bytes(png[: len(png) // 2])       # truncated
    with pytest.raises(CorruptDatasetError, match=r"cat/a\.png: cannot read the image"):
        ds[0]
    (tmp_path / "cat" / "a.png").write_bytes(b"not an image at all")
    with pytest.raises(CorruptDatasetError, match=r"cat/a\.png: cannot read the image \(UnidentifiedImageError"):
        ds[0]


def test_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for cls, n in (("dog", 2), ("cat", 3)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (8, 6), dtype=np.uint8), "L").save(tmp_path / cls / f"{i}.png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert len(ds) == 5 and ds.targets == [0, 0, 0, 1, 1]
    img, y = ds[3]
    assert img.mode == "RGB" and img.size == (6, 8) and y == 1
    assert ds.imgs[0][0].endswith(os.path.join("cat", "0.png"))
    only_dog = ImageFolder(tmp_path, loader=lambda p: p, is_valid_file=lambda p: "dog" in p or p.endswith(".txt"))
    assert len(only_dog) == 3
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes empty"):
        ImageFolder(tmp_path)
    with pytest.raises(FileNotFoundError):
        ImageFolder(tmp_path / "missing")
