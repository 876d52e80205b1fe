"""blaze.vision.datasets: torchvision.datasets' classes, read from disk or downloaded.

| class                       | files                                                                 |
| --------------------------- | --------------------------------------------------------------------- |
| MNIST, FashionMNIST, KMNIST | ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` in ``root``,      |
|                             | ``root/<Name>/raw``, ``root/<Name>`` or ``root/<folder>``               |
| CIFAR10 / CIFAR100          | python batches in ``root/cifar-10-batches-py`` / ``cifar-100-python``  |
| ImageFolder, DatasetFolder  | ``root/<class>/<image>``                                              |
| FakeData                    | none: random images, each seeded by its index                         |

``download=True`` fetches missing files from the class's ``mirrors`` (checksum-verified,
resumable, see :mod:`blaze.utils.download`); files already present are loaded without
touching the network. ``FashionMNIST(root=None)`` reads the subset bundled with blaze.
"""
from .cifar import CIFAR10, CIFAR100, load_pickle_batch
from .fakedata import FakeData
from .folder import IMG_EXTENSIONS, DatasetFolder, ImageFolder, default_loader
from .mnist import KMNIST, MNIST, FashionMNIST, bundled_fashion_mnist, read_idx
from .utils import CorruptDatasetError, DatasetNotFoundError

__all__ = ["CIFAR10", "CIFAR100", "CorruptDatasetError", "DatasetFolder", "DatasetNotFoundError", "FakeData", "FashionMNIST",
           "IMG_EXTENSIONS", "ImageFolder", "KMNIST", "MNIST", "bundled_fashion_mnist", "default_loader",
           "load_pickle_batch", "read_idx"]
