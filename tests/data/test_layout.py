"""PyTorch's module paths (torch.utils.data, torchvision) and the old blaze.data paths name the same objects."""
import importlib
import subprocess
import sys

import pytest

import blaze


@pytest.mark.parametrize("path, names", [
    ("blaze.utils.data", ["DataLoader", "Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "Subset",
                          "random_split", "Sampler", "RandomSampler", "BatchSampler", "WeightedRandomSampler",
                          "DistributedSampler", "get_worker_info", "default_collate", "default_convert"]),
    ("blaze.utils.data.dataset", ["Dataset", "Subset", "random_split"]),
    ("blaze.utils.data.sampler", ["Sampler", "SequentialSampler", "SubsetRandomSampler"]),
    ("blaze.utils.data.dataloader", ["DataLoader"]),
    ("blaze.utils.data.distributed", ["DistributedSampler"]),
    ("blaze.utils.data._utils.collate", ["default_collate", "default_convert"]),
    ("blaze.utils.data._utils.worker", ["get_worker_info", "WorkerInfo"]),
    ("blaze.vision.datasets", ["MNIST", "FashionMNIST", "KMNIST", "CIFAR10", "CIFAR100", "ImageFolder"]),
    ("blaze.vision.datasets.utils", ["download_url", "check_integrity", "extract_archive",
                                     "download_and_extract_archive"]),
    ("blaze.vision.transforms", ["Compose", "ToTensor", "Normalize"]),
    ("blaze.vision.utils", ["make_grid", "save_image"]),
    ("blaze.vision.io", ["read_image", "decode_image", "write_png", "encode_jpeg", "ImageReadMode"]),
])
def test_pytorch_paths_import(path, names):
    module = importlib.import_module(path)
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{path} lacks {missing}"


def test_torch_style_attribute_access():
    import blaze.utils.data
    from blaze.vision import datasets, io, transforms, utils  # noqa: F401  (torchvision's spelling)
    assert blaze.utils.data.DataLoader is blaze.utils.data.dataloader.DataLoader
    assert blaze.utils.dlpack.from_dlpack is blaze.from_dlpack
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        blaze.utils.nope  # noqa: B018


@pytest.mark.parametrize("old, new", [
    ("blaze.data.dataset", "blaze.utils.data.dataset"),
    ("blaze.data.sampler", "blaze.utils.data.sampler"),
    ("blaze.data.dataloader", "blaze.utils.data.dataloader"),
    ("blaze.data.distributed", "blaze.utils.data.distributed"),
    ("blaze.data.collate", "blaze.utils.data._utils.collate"),
    ("blaze.data._worker", "blaze.utils.data._utils.worker"),
    ("blaze.data.transforms", "blaze.vision.transforms"),
    ("blaze.data.utils", "blaze.vision.utils"),
])
def test_old_paths_are_the_same_modules(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)


def test_old_names_are_the_same_objects():
    import blaze.data
    import blaze.data.datasets
    import blaze.utils.data
    import blaze.vision.datasets
    for name in blaze.utils.data.__all__:
        assert getattr(blaze.data, name) is getattr(blaze.utils.data, name), name
    for name in blaze.vision.datasets.__all__:
        assert getattr(blaze.data.datasets, name) is getattr(blaze.vision.datasets, name), name
    assert blaze.data.transforms is importlib.import_module("blaze.vision.transforms")
    assert blaze.data.datasets.CharDataset.__module__ == "blaze.data.text"


def test_import_blaze_loads_neither_pillow_nor_tqdm():
    code = ("import sys, blaze, blaze.utils.data, blaze.data, blaze.vision; "
            "print(sorted(m for m in ('PIL', 'tqdm', 'blaze.vision.datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_distributed_sampler_asks_blaze_distributed_for_the_world():
    from blaze.utils.data.distributed import DistributedSampler
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        DistributedSampler(list(range(4)))                               # reaches blaze.distributed, not ImportError
    assert list(DistributedSampler(list(range(4)), num_replicas=2, rank=1, shuffle=False)) == [1, 3]
