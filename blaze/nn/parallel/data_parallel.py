"""``DataParallel`` and ``data_parallel``: PyTorch's single-process data parallelism, on blaze's one device.

PyTorch splits the batch along ``dim`` over ``device_ids``, runs a replica per GPU and
gathers the outputs on ``output_device``. blaze drives one GPU per process, so the
documented one-device case is what runs: inputs (tensors inside tuples, lists and dicts)
are moved to ``device_ids[0]`` and the module runs once on them; the output stays there,
as PyTorch's does with one device. Without a usable GPU both are a plain call of the module,
as in PyTorch. Several devices raise a clear error (``DistributedDataParallel`` scales out).

Which device: ``device_ids=None`` means every GPU ``blaze.cuda.is_available()`` reports
(none on the emulated device, so CPU scripts stay on the CPU); explicit ids are used when
the cuda device exists (emulated included, which is how the tests reach this path).
"""
from __future__ import annotations

from itertools import chain

from ... import cuda
from ...accelerator import _index
from ...device import device as _device
from ..._tensor import Tensor
from ..modules.module import Module


def _device_ids(device_ids):
    if device_ids is None:
        return [cuda.current_device()] if cuda.is_available() else []
    if cuda.device_count() == 0:
        return []
    ids = [_index(d) for d in device_ids]
    if len(ids) > 1:
        raise NotImplementedError(f"blaze's DataParallel runs on one device, got device_ids={list(device_ids)}; "
                                  "use blaze.nn.parallel.DistributedDataParallel (one process per GPU) to scale out")
    return ids


def _to(obj, dev):
    """Move the tensors in ``obj`` (nested in tuples, lists and dicts) to ``dev`` (scatter over one device)."""
    if isinstance(obj, Tensor):
        return obj.to(dev)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(_to(o, dev) for o in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to(o, dev) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _to(v, dev)) for k, v in obj.items())
    return obj


def _check_placement(module: Module, dev) -> None:
    for t in chain(module.parameters(), module.buffers()):
        if t.device != dev:
            raise RuntimeError(f"module must have its parameters and buffers on device {dev} (device_ids[0]) but "
                               f"found one of them on device: {t.device}")


class DataParallel(Module):
    """Run ``module`` on the batch, placed on ``device_ids[0]``, as ``torch.nn.DataParallel``.

    Args:
        module: the model; ``self.module`` holds it, so ``state_dict()`` keys start with ``module.``.
        device_ids: the GPU to use (one; default: the current GPU when one is available).
        output_device: where outputs are gathered (default ``device_ids[0]``; with one
            device the output stays where the module produced it, as PyTorch).
        dim: the batch dimension inputs would be split along.

    Example::

        model = nn.DataParallel(Net().to("cuda"))
        out = model(x)            # x is moved to cuda:0
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        self.module = module
        self.dim = dim
        self.device_ids = _device_ids(device_ids)
        if not self.device_ids:
            self.output_device = None
            self.src_device_obj = None
            return
        self.output_device = self.device_ids[0] if output_device is None else _index(output_device)
        self.src_device_obj = _device("cuda", self.device_ids[0])
        _check_placement(module, self.src_device_obj)

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        _check_placement(self.module, self.src_device_obj)
        return self.module(*_to(inputs, self.src_device_obj), **_to(kwargs, self.src_device_obj))


def data_parallel(module: Module, inputs, device_ids=None, output_device=None, dim: int = 0, module_kwargs=None):
    """Evaluate ``module(*inputs, **module_kwargs)`` as ``DataParallel`` would, without keeping a wrapper.

    ``inputs`` is one input or a tuple of them.
    """
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    module_kwargs = {} if module_kwargs is None else module_kwargs
    ids = _device_ids(device_ids)
    if not ids:
        return module(*inputs, **module_kwargs)
    dev = _device("cuda", ids[0])
    _check_placement(module, dev)
    return module(*_to(inputs, dev), **_to(module_kwargs, dev))


__all__ = ["DataParallel", "data_parallel"]
