"""MNIST-style datasets (IDX files): MNIST, FashionMNIST, KMNIST (torchvision.datasets.mnist).

``download=True`` fetches the four ``.gz`` files from ``mirrors`` (tried in order) into
``root/<Name>/raw`` with their published MD5s checked; they are read gzipped, as is.
``FashionMNIST(root=None)`` reads the subset bundled with blaze (10,000 train / 2,000 test
images); ``bundled_fashion_mnist(train)`` is the same.
"""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

import blaze
from blaze.utils.data.dataset import Dataset

from .utils import CorruptDatasetError, DatasetNotFoundError, download_url

BUNDLED_DIR = Path(__file__).with_name("bundled")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


# ---- IDX --------------------------------------------------------------------------------

# IDX type byte -> NumPy dtype (big-endian); MNIST files only use 0x08
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# The largest IDX payload read (decompressed): EMNIST's biggest file is ~0.7 GB, so 4 GiB
# leaves room while refusing a header that asks for terabytes.
MAX_IDX_BYTES = 1 << 32
_CHUNK = 1 << 20


def _read_exact(f, n: int, path: Path, what: str) -> bytes:
    """``n`` bytes from ``f`` in 1 MiB chunks, so a gzip bomb stops at ``n`` instead of filling memory."""
    chunks, got = [], 0
    while got < n:
        chunk = f.read(min(_CHUNK, n - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    if got < n:
        raise CorruptDatasetError(f"{path}: {what} needs {n} bytes but the file ends after {got}; "
                                  "it is truncated or corrupt")
    return b"".join(chunks)


def read_idx(path, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped when its name ends in .gz) into an array of its stored shape.

    The header is big-endian: two zero bytes, a type byte, the number of dimensions, then one
    uint32 per dimension; the data follows row-major. The size the header promises is checked
    while reading (a .gz is never decompressed past it). Raises CorruptDatasetError naming the file.
    """
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read(4)
            if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
                raise CorruptDatasetError(f"{path}: not an IDX file (bad magic number {raw.hex() or 'empty'})")
            magic = int.from_bytes(raw, "big")
            if expected_magic is not None and magic != expected_magic:
                raise CorruptDatasetError(f"{path}: magic number {magic} where {expected_magic} was expected "
                                          "(images are 2051, labels 2049)")
            ndim = raw[3]
            shape = tuple(int(d) for d in np.frombuffer(_read_exact(f, 4 * ndim, path, "the header"), dtype=">u4"))
            dtype = np.dtype(_IDX_DTYPES[raw[2]])
            need = math.prod(shape) * dtype.itemsize
            if need > MAX_IDX_BYTES:
                raise CorruptDatasetError(f"{path}: header shape {shape} needs {need} bytes, over the "
                                          f"{MAX_IDX_BYTES}-byte limit of an IDX file")
            data = _read_exact(f, need, path, f"shape {shape}")
            if f.read(1):
                raise CorruptDatasetError(f"{path}: holds more data than its header {shape} needs ({need} bytes); "
                                          "the file is corrupt")
    except (EOFError, OSError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise CorruptDatasetError(f"{path}: cannot read the file ({type(e).__name__}: {e}); "
                                  "it is truncated or not gzip data") from e
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


class MNIST(Dataset):
    """MNIST digits from IDX files: items are ``(PIL image 'L' 28x28, int label)``.

    Args:
        root: a directory holding the four IDX files (gzipped or not), or torchvision's
            ``root/MNIST/raw`` layout.
        train: the 60,000 training images, else the 10,000 test images.
        transform / target_transform: applied to the image / the label.
        download: fetch the files from ``mirrors`` into ``root/<Name>/raw`` when they are not
            found (MD5-checked); files already present are loaded without the network.

    Attributes: ``data`` (uint8 tensor N x 28 x 28), ``targets`` (int64 tensor N), ``classes``.
    """

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    folder = "mnist"  # the conventional lower-case folder name (as in ../shared/data)
    # torchvision's mirrors and MD5s of the official files; override both to use another server
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]

    def __init__(self, root=None, train: bool = True, transform=None, target_transform=None, download: bool = False):
        self.root = root
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
        if download:
            self.download()
        self.raw_folder = self._find_dir()
        prefix = "train" if train else "t10k"
        images = read_idx(self._file(f"{prefix}-images-idx3-ubyte"), expected_magic=2051)
        labels = read_idx(self._file(f"{prefix}-labels-idx1-ubyte"), expected_magic=2049)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise CorruptDatasetError(f"{self.raw_folder}: images {images.shape} and labels {labels.shape} do not match")
        self._images = images
        self._labels = labels.astype(np.int64)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def _candidates(self) -> list[Path]:
        if self.root is None:
            return self._default_dirs()
        root = Path(self.root).expanduser()
        name = type(self).__name__
        return [root, root / name / "raw", root / name, root / self.folder]

    def _default_dirs(self) -> list[Path]:
        raise TypeError(f"{type(self).__name__}() needs root: the directory holding its IDX files")

    def _file(self, stem: str) -> Path:
        for name in (stem + ".gz", stem):
            if (self.raw_folder / name).is_file():
                return self.raw_folder / name
        raise DatasetNotFoundError(f"{type(self).__name__}: {stem}[.gz] is missing from {self.raw_folder}")

    def _present_dir(self) -> Path | None:
        prefix = "train" if self.train else "t10k"
        stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
        return next((d for d in self._candidates()
                     if all((d / (s + ".gz")).is_file() or (d / s).is_file() for s in stems)), None)

    def _find_dir(self) -> Path:
        found = self._present_dir()
        if found is not None:
            return found
        prefix = "train" if self.train else "t10k"
        looked = "\n  ".join(str(d) for d in self._candidates())
        raise DatasetNotFoundError(
            f"{type(self).__name__} ({'train' if self.train else 'test'}): no {prefix}-images-idx3-ubyte[.gz] "
            f"and {prefix}-labels-idx1-ubyte[.gz] in any of:\n  {looked}\nPass download=True to fetch them.")

    def download(self) -> None:
        """Fetch the files into ``root/<Name>/raw`` unless the split is already present (then: no network)."""
        if self._present_dir() is not None:
            return
        raw = Path(self.root).expanduser() / type(self).__name__ / "raw"
        for filename, md5 in self.resources:
            download_url([m + filename for m in self.mirrors], raw, filename, md5=md5)

    @property
    def data(self):
        return blaze.from_numpy(self._images)

    @property
    def targets(self):
        return blaze.from_numpy(self._labels)

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, index):
        img = Image.fromarray(self._images[index], mode="L")
        target = int(self._labels[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self):
        return f"{type(self).__name__}(split={'train' if self.train else 'test'}, n={len(self)}, root={self.raw_folder})"


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando Research, MIT): same IDX format and API as :class:`MNIST`.

    ``root=None`` reads the subset bundled with blaze (first 10,000 train / 2,000 test images).
    A ``root`` without the files falls back to Debian's ``/usr/share/datasets/fashion-mnist``.
    """

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    folder = "fashion-mnist"
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]

    def _candidates(self):
        return super()._candidates() + ([DEBIAN_FASHION_MNIST] if self.root is not None else [])

    def _default_dirs(self):
        return [BUNDLED_DIR]


class KMNIST(MNIST):
    """Kuzushiji-MNIST (ROIS-DS CODH, CC BY-SA 4.0): ten cursive hiragana, same IDX format as :class:`MNIST`."""

    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
    folder = "kmnist"
    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
        ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
        ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
        ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"),
    ]


def bundled_fashion_mnist(train: bool = True, transform=None, target_transform=None) -> FashionMNIST:
    """The Fashion-MNIST subset shipped inside blaze: 10,000 train or 2,000 test images."""
    return FashionMNIST(None, train=train, transform=transform, target_transform=target_transform)


