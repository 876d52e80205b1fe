"""PyTorch's ``torch.backends`` flag namespace: ``cudnn``, ``cuda``, ``mps``.

So code written for PyTorch runs unchanged::

    import blaze.backends.cudnn as cudnn
    cudnn.benchmark = True
    blaze.backends.cuda.matmul.allow_tf32 = True   # the TF32 switch of blaze's matmul kernel

The devices themselves live in :mod:`blaze.devices`.
"""
from . import cuda, cudnn, mps  # noqa: F401  (three small modules, no device work at import)
