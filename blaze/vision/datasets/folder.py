"""ImageFolder / DatasetFolder: samples in ``root/<class>/**/<file>`` (torchvision.datasets.folder)."""
from __future__ import annotations

import os

from PIL import Image

from blaze.utils.data.dataset import Dataset

from .utils import CorruptDatasetError, DatasetNotFoundError

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
