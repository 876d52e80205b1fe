"""SyncBatchNorm: batch statistics over the whole global batch, across the ranks of a process group.

Each rank reduces its slice to per-channel sum, sum of squares and count; one all-reduce
of those 2C + 1 numbers gives every rank the global mean and variance. The all-reduce is
differentiable (its backward all-reduces the gradient of the statistics), so backward
sees the same graph as BatchNorm on the full batch: 2 ranks on half batches give the
gradients of 1 process on the whole batch (tests/distributed). Variance is
E[x^2] - mean^2, which loses precision when |mean| >> std (PyTorch's CUDA kernel combines
per-rank Welford statistics instead); activations entering BatchNorm are near zero-mean.
"""
from __future__ import annotations

from ...autograd.function import Function
from ...autograd.grad_mode import no_grad
from ...ops.movement import cat
from .normalization import _BatchNorm

__all__ = ["SyncBatchNorm"]


class _AllReduceSum(Function):
    @staticmethod
    def forward(ctx, x, group):
        from ... import distributed as dist
        ctx.group = group
        y = x.detach().clone()
        dist.all_reduce(y, group=group)
        return y

    @staticmethod
    def backward(ctx, gy):
        from ... import distributed as dist
        g = gy.detach().clone()
        dist.all_reduce(g, group=ctx.group)
        return g, None


class SyncBatchNorm(_BatchNorm):
    """Batch normalization with statistics shared across the ranks of ``process_group``, as PyTorch's.

    Outside training, or without an initialized process group of more than one rank, it is
    BatchNorm. Runs on cpu and cuda tensors (PyTorch's needs a GPU).

    Example::

        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)   # every BatchNorm*d
        model = DistributedDataParallel(model)
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def _check_input_dim(self, input) -> None:
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")

    def forward(self, input):
        from ... import distributed as dist
        if not self.training or not dist.is_initialized() or dist.get_world_size(self.process_group) == 1:
            return super().forward(input)
        self._check_input_dim(input)
        factor = self._momentum_factor()
        c = input.shape[1]
        axes = (0,) + tuple(range(2, input.ndim))
        bshape = (1, c) + (1,) * (input.ndim - 2)  # per-channel stats broadcast over (N, C, *)
        local = input.numel() // c
        stats = cat([input.sum(axes), (input * input).sum(axes), input.new_full((1,), float(local))])
        stats = _AllReduceSum.apply(stats, self.process_group)  # (2C + 1,) summed over ranks
        n = stats[2 * c:].detach()
        if float(n.item()) <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{list(input.shape)} on every rank")
        mean = stats[:c] / n
        var = stats[c:2 * c] / n - mean * mean
        if self.track_running_stats and self.running_mean is not None:
            with no_grad():
                unbiased = var.detach() * (n / (n - 1))
                self.running_mean.mul_(1 - factor).add_(mean.detach().to(self.running_mean.dtype) * factor)
                self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype) * factor)
        y = (input - mean.reshape(bshape)) * (var.reshape(bshape) + self.eps).rsqrt()
        if self.weight is not None:
            y = y * self.weight.reshape(bshape) + self.bias.reshape(bshape)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """Replace every BatchNorm*d in ``module`` (or ``module`` itself) by a SyncBatchNorm sharing its state."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                      process_group)
            if module.affine:
                with no_grad():
                    out.weight = module.weight
                    out.bias = module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out
