"""datasets.X(root, download=True) against the local fixture server, with torchvision's class attributes repointed."""
import gzip
import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from blaze.vision.datasets import CIFAR10, CIFAR100, KMNIST, MNIST, CorruptDatasetError, FashionMNIST
from blaze.vision.datasets.utils import ChecksumError, DownloadError, UnsafeArchiveError


def _md5(blob):
    return hashlib.md5(blob).hexdigest()


def _idx_gz(arr, magic):
    raw = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape) + arr.tobytes()
    return gzip.compress(raw, mtime=0)


def _serve_mnist(server, cls, monkeypatch, prefix="/mnist/", n=6):
    """Tiny IDX .gz files for both splits on the server; cls.mirrors/resources point at them."""
    rng = np.random.default_rng(0)
    arrays = {}
    resources = []
    for split, count in (("train", n), ("t10k", n - 2)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        arrays[split] = (images, labels)
        for stem, arr, magic in ((f"{split}-images-idx3-ubyte", images, 2051), (f"{split}-labels-idx1-ubyte", labels, 2049)):
            blob = _idx_gz(arr, magic)
            server.files[prefix + stem + ".gz"] = blob
            resources.append((stem + ".gz", _md5(blob)))
    monkeypatch.setattr(cls, "mirrors", [server.url + "/missing/", server.url + prefix])
    monkeypatch.setattr(cls, "resources", resources)
    return arrays


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST, KMNIST])
def test_mnist_family_downloads_then_loads_offline(http_server, tmp_path, monkeypatch, cls):
    arrays = _serve_mnist(http_server, cls, monkeypatch)
    ds = cls(tmp_path, train=True, download=True)
    raw = tmp_path / cls.__name__ / "raw"
    assert sorted(os.listdir(raw)) == sorted(name for name, _ in cls.resources)     # no .part files
    np.testing.assert_array_equal(ds.data.numpy(), arrays["train"][0])
    assert ds.targets.tolist() == arrays["train"][1].tolist()
    assert [s for _, _, s in http_server.log] == [404, 200] * 4                      # first mirror 404s each time
    n = len(http_server.log)
    test = cls(tmp_path, train=False, download=True)                                 # present: no network
    assert len(http_server.log) == n and len(test) == 4
    np.testing.assert_array_equal(test.data.numpy(), arrays["t10k"][0])


def test_mnist_present_elsewhere_in_root_is_not_downloaded(http_server, tmp_path, monkeypatch):
    arrays = _serve_mnist(http_server, MNIST, monkeypatch)
    for path, blob in http_server.files.items():
        (tmp_path / path.rsplit("/", 1)[1]).write_bytes(blob)                        # files directly in root
    ds = MNIST(tmp_path, download=True)
    assert http_server.log == [] and len(ds) == len(arrays["train"][1])


def test_mnist_corrupt_download_is_refused_and_leaves_nothing(http_server, tmp_path, monkeypatch):
    _serve_mnist(http_server, MNIST, monkeypatch)
    http_server.files["/mnist/train-images-idx3-ubyte.gz"] += b"tampered"
    with pytest.raises(ChecksumError) as info:
        MNIST(tmp_path, download=True)
    assert "train-images-idx3-ubyte.gz" in str(info.value) and "/mnist/train-images-idx3-ubyte.gz" in str(info.value)
    assert not (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists()
    assert not [p for p in (tmp_path / "MNIST" / "raw").iterdir() if p.name.endswith(".part")]


def test_mnist_offline_message_lists_the_urls(dead_url, tmp_path, monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", [dead_url + "a/", dead_url + "b/"])
    with pytest.raises(DownloadError) as info:
        MNIST(tmp_path, download=True)
    assert dead_url + "a/train-images-idx3-ubyte.gz" in str(info.value)
    assert dead_url + "b/train-images-idx3-ubyte.gz" in str(info.value)


# ---- CIFAR ------------------------------------------------------------------------------

def _pickle(obj):
    return pickle.dumps(obj, protocol=2)


def _cifar_files(rng, batch_names, label_key, n_classes, names_key):
    files = {}
    for name in batch_names:
        files[name] = _pickle({b"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8),
                               label_key: rng.integers(0, n_classes, 3).tolist()})
    files["meta"] = _pickle({names_key: [b"c%d" % i for i in range(n_classes)]})
    return files


def _tar_gz(members):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return out.getvalue()


def _serve_cifar(server, cls, monkeypatch, extra=None, tamper=False):
    rng = np.random.default_rng(1)
    train, test = [n for n, _ in cls.train_list], [n for n, _ in cls.test_list]
    label_key = b"labels" if cls is CIFAR10 else b"fine_labels"
    files = _cifar_files(rng, train + test, label_key, cls.num_classes, cls.meta["key"].encode())
    files[cls.meta["filename"]] = files.pop("meta")
    blob = _tar_gz({**{f"{cls.base_folder}/{k}": v for k, v in files.items()}, **(extra or {})})
    server.files["/cifar/" + cls.filename] = blob + (b"x" if tamper else b"")
    monkeypatch.setattr(cls, "mirrors", [server.url + "/cifar/"])
    monkeypatch.setattr(cls, "tgz_md5", _md5(blob))
    monkeypatch.setattr(cls, "train_list", [[n, _md5(files[n])] for n in train])
    monkeypatch.setattr(cls, "test_list", [[n, _md5(files[n])] for n in test])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(files[cls.meta["filename"]])})
    return files


@pytest.mark.parametrize("cls", [CIFAR10, CIFAR100])
def test_cifar_downloads_extracts_and_then_loads_offline(http_server, tmp_path, monkeypatch, cls):
    files = _serve_cifar(http_server, cls, monkeypatch)
    ds = cls(tmp_path, train=False, download=True)
    assert sorted(os.listdir(tmp_path)) == sorted([cls.base_folder, cls.filename])
    test_name = cls.test_list[0][0]
    first = pickle.loads(files[test_name], encoding="bytes")
    assert len(ds) == 3 and ds.classes[2] == "c2" and ds.targets == list(first[b"labels" if cls is CIFAR10
                                                                                  else b"fine_labels"])
    assert len(http_server.log) == 1
    train = cls(tmp_path, train=True, download=True)                 # every file present with its MD5: no network
    assert len(http_server.log) == 1 and len(train) == 3 * len(cls.train_list)
    (tmp_path / cls.base_folder / test_name).write_bytes(b"damaged")  # a bad batch: re-extract the valid archive
    assert len(cls(tmp_path, train=False, download=True)) == 3 and len(http_server.log) == 1


def test_cifar_corrupt_archive_is_refused_and_root_stays_empty(http_server, tmp_path, monkeypatch):
    _serve_cifar(http_server, CIFAR10, monkeypatch, tamper=True)
    with pytest.raises(ChecksumError, match=r"cifar-10-python.tar.gz(.|\n)*/cifar/cifar-10-python.tar.gz"):
        CIFAR10(tmp_path, download=True)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("member", ["../escaped.txt", "/tmp/blaze-cifar-abs.txt"])
def test_cifar_archive_escaping_root_is_refused(http_server, tmp_path, monkeypatch, member):
    root = tmp_path / "root"
    _serve_cifar(http_server, CIFAR10, monkeypatch, extra={member: b"pwned"})   # the real files plus one bad member
    with pytest.raises(UnsafeArchiveError):
        CIFAR10(root, download=True)
    assert os.listdir(root) == [CIFAR10.filename]                    # the verified archive; nothing unpacked
    assert sorted(os.listdir(tmp_path)) == ["root"] and not os.path.exists("/tmp/blaze-cifar-abs.txt")


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch " + os.environ["BLAZE_EVIL_MARK"],))


def test_downloaded_batch_with_code_is_refused_without_running_it(http_server, tmp_path, monkeypatch):
    mark = tmp_path / "pwned"
    monkeypatch.setenv("BLAZE_EVIL_MARK", str(mark))
    evil = _pickle({b"data": _Evil(), b"labels": [0]})
    _serve_cifar(http_server, CIFAR10, monkeypatch, extra={"cifar-10-batches-py/test_batch": evil})
    with pytest.raises(CorruptDatasetError, match="refusing to load posix.system|refusing to load os.system"):
        CIFAR10(tmp_path / "root", train=False, download=True)
    assert not mark.exists()
