"""Spectral normalization (Miyato et al. 2018), as ``torch.nn.utils.spectral_norm``.

The module's ``weight`` becomes ``weight_orig / sigma`` where sigma, the largest singular
value of the weight reshaped to (out, -1), is estimated by power iteration with the
persistent buffers ``weight_u`` (out,) and ``weight_v`` (in,). One iteration per training
forward is enough because u and v carry over between steps. State-dict keys match torch's:
``weight_orig``, ``weight_u``, ``weight_v``.
"""
from __future__ import annotations

from ...autograd.grad_mode import no_grad
from ...ops.creation import empty
from ..functional.misc import normalize
from ..parameter import Parameter


class SpectralNorm:
    """The forward pre-hook that recomputes ``module.<name>`` before each forward."""

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12):
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got n_power_iterations="
                             f"{n_power_iterations}")
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def reshape_weight_to_matrix(self, weight):
        w = weight
        if self.dim != 0:
            w = w.movedim(self.dim, 0)
        return w.reshape(w.shape[0], -1)  # (out, in * kernel)

    def compute_weight(self, module, do_power_iteration: bool):
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():
                m = mat.detach()
                for _ in range(self.n_power_iterations):
                    v.copy_(normalize(m.t() @ u, dim=0, eps=self.eps))
                    u.copy_(normalize(m @ v, dim=0, eps=self.eps))
        # u and v are constants for autograd (as torch clones them): only mat carries gradient
        u, v = u.detach().clone(), v.detach().clone()
        sigma = (u * (mat @ v)).sum()
        return weight / sigma

    def __call__(self, module, inputs):
        object.__setattr__(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    @staticmethod
    def apply(module, name: str, n_power_iterations: int, dim: int, eps: float) -> "SpectralNorm":
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        weight = module._parameters[name]
        with no_grad():
            mat = fn.reshape_weight_to_matrix(weight)
            h, w = mat.shape
            u = normalize(empty(h, dtype=weight.dtype, device=weight.device).normal_(0, 1), dim=0, eps=eps)
            v = normalize(empty(w, dtype=weight.dtype, device=weight.device).normal_(0, 1), dim=0, eps=eps)
        del module._parameters[name]
        module.register_parameter(name + "_orig", weight)
        object.__setattr__(module, name, weight.detach())
        module.register_buffer(name + "_u", u)
        module.register_buffer(name + "_v", v)
        handle = module.register_forward_pre_hook(fn)
        fn._handle = handle
        return fn


def spectral_norm(module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim=None):
    """Apply spectral normalization to ``module.<name>``; returns the module.

    Example::

        d = nn.utils.spectral_norm(nn.Linear(20, 40))
        d.weight_u.shape   # (40,)
    """
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module, name: str = "weight"):
    """Undo :func:`spectral_norm`: ``weight`` becomes a plain Parameter holding the normalized value."""
    for k, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, SpectralNorm) and hook.name == name:
            with no_grad():
                weight = hook.compute_weight(module, do_power_iteration=False)
            del module._forward_pre_hooks[k]
            del module._parameters[name + "_orig"]
            del module._buffers[name + "_u"]
            del module._buffers[name + "_v"]
            module.__dict__.pop(name, None)
            module.register_parameter(name, Parameter(weight.detach()))
            return module
    raise ValueError(f"spectral_norm of '{name}' not found in {module}")


__all__ = ["spectral_norm", "remove_spectral_norm", "SpectralNorm"]
