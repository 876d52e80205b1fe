"""``FakeData``: random images, as torchvision.datasets.FakeData (for smoke runs without data)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from blaze.utils.data.dataset import Dataset

# channels -> PIL mode of the generated image
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


class FakeData(Dataset):
    """``size`` random ``(PIL image, class index)`` samples of shape ``image_size`` (C, H, W).

    Sample ``i`` is drawn from its own generator seeded with ``i + random_offset``, so it is the
    same on every access, in every DataLoader worker, and the global random state is untouched
    (torchvision saves and restores the global state to the same effect). Pixels are uniform
    bytes; torchvision's are ``randn`` values cast to bytes, which no program relies on.
    """

    def __init__(self, size: int = 1000, image_size=(3, 224, 224), num_classes: int = 10, transform=None,
                 target_transform=None, random_offset: int = 0):
        image_size = tuple(int(s) for s in image_size)
        if len(image_size) != 3 or image_size[0] not in _MODES or min(image_size) < 1:
            raise ValueError(f"FakeData: image_size must be (C, H, W) with C in {sorted(_MODES)}, got {image_size}")
        if size < 0 or num_classes < 1:
            raise ValueError(f"FakeData: size must be >= 0 and num_classes >= 1, got {size} and {num_classes}")
        self.size, self.image_size, self.num_classes = int(size), image_size, int(num_classes)
        self.transform, self.target_transform = transform, target_transform
        self.random_offset = int(random_offset)

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        if not -self.size <= index < self.size:
            raise IndexError(f"{type(self).__name__} index out of range")
        index %= self.size
        rng = np.random.default_rng(index + self.random_offset)
        c, h, w = self.image_size
        pixels = rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)
        img = Image.fromarray(pixels[:, :, 0] if c == 1 else pixels, mode=_MODES[c])
        target = int(rng.integers(0, self.num_classes))
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target
