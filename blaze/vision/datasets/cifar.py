"""CIFAR-10 / CIFAR-100 from the "python version" pickle batches (torchvision.datasets.cifar).

A batch is a pickle, so it is read with a restricted unpickler: only dicts, lists, str, bytes,
ints and NumPy's array reconstruction; any other global (``os.system``, ...) is refused before
anything runs. ``download=True`` fetches the archive (MD5-checked) and unpacks it safely.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from blaze.utils.data.dataset import Dataset

from .utils import CorruptDatasetError, DatasetNotFoundError, check_integrity, download_and_extract_archive

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
        download: fetch ``filename`` from ``mirrors`` (MD5-checked) and unpack it into ``root``
            unless every batch is already there with its published MD5 (then: no network).
    """

    base_folder = "cifar-10-batches-py"
    # torchvision's file list and MD5s of the official archive; override mirrors to use another server
    mirrors = ["https://www.cs.toronto.edu/~kriz/"]
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [
        ["data_batch_1", "c99cafc152244af753f735de768cd75f"],
        ["data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"],
        ["data_batch_3", "54ebc095f3ab1f0389bbae665268c751"],
        ["data_batch_4", "634d18415352ddfa80567beed471001a"],
        ["data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"],
    ]
    test_list = [["test_batch", "40351d587109b95175f43aff81a1287e"]]
    meta = {"filename": "batches.meta", "key": "label_names", "md5": "5ff9c542aee3614f3951f8cda6e48888"}
    label_key = "labels"
    num_classes = 10

    def __init__(self, root, train: bool = True, transform=None, target_transform=None, download: bool = False):
        self.root, self.train = root, train
        self.transform, self.target_transform = transform, target_transform
        if download:
            self.download()
        files = [name for name, _ in (self.train_list if train else self.test_list)]
        folder = next((d for d in self._folders() if (d / files[0]).is_file()), None)
        if folder is None:
            looked = "\n  ".join(str(d) for d in self._folders())
            raise DatasetNotFoundError(
                f"{type(self).__name__}: no {files[0]} in any of:\n  {looked}\nPass download=True to fetch "
                f"{self.filename}, or unpack the 'python version' archive from "
                "https://www.cs.toronto.edu/~kriz/cifar.html in root")
        images, labels = [], []
        for name in files:
            data, lab = self._checked_batch(folder / name)
            images.append(data.reshape(-1, 3, 32, 32))  # (N, 3072) -> (N, C, H, W): R, G, B planes
            labels.extend(lab.tolist())
        self.data = np.ascontiguousarray(np.concatenate(images).transpose(0, 2, 3, 1))  # -> (N, H, W, C)
        self.targets = labels
        meta = folder / self.meta["filename"]
        if meta.is_file():
            names = load_pickle_batch(meta).get(self.meta["key"])
            if not isinstance(names, list) or len(names) != self.num_classes or \
                    not all(isinstance(c, (bytes, str)) for c in names):
                raise CorruptDatasetError(f"{meta}: {self.meta['key']!r} is not a list of {self.num_classes} names")
            self.classes = [c.decode() if isinstance(c, bytes) else c for c in names]
        else:
            self.classes = [str(i) for i in range(self.num_classes)]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def _folders(self) -> list[Path]:
        root = Path(self.root).expanduser()
        return [root / self.base_folder, root]

    def _check_integrity(self) -> bool:
        """Every batch and the meta file present in one folder with torchvision's MD5s."""
        files = [*self.train_list, *self.test_list, [self.meta["filename"], self.meta["md5"]]]
        return any(all(check_integrity(d / name, md5) for name, md5 in files) for d in self._folders())

    def download(self) -> None:
        """Fetch and unpack the archive into ``root`` unless every file is present and verified."""
        if self._check_integrity():
            return
        download_and_extract_archive([m + self.filename for m in self.mirrors], self.root,
                                     filename=self.filename, md5=self.tgz_md5)

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
    filename = "cifar-100-python.tar.gz"
    tgz_md5 = "eb9058c3a382ffc7106e4002c42a8d85"
    train_list = [["train", "16019d7e3df5f24257cddd939b257f8d"]]
    test_list = [["test", "f0ef6b0ae62326f3e7ffdfab6717acfc"]]
    meta = {"filename": "meta", "key": "fine_label_names", "md5": "7973b15100ade9c7d40fb424638fde48"}
    label_key = "fine_labels"
    num_classes = 100


