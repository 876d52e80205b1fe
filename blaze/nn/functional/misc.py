"""Odds and ends of ``torch.nn.functional``: pad, normalize, cosine_similarity, pairwise_distance, ..."""
from __future__ import annotations

from ...ops import movement as _movement


def pad(input, pad, mode: str = "constant", value=None):
    """Pad the last ``len(pad) // 2`` dims: pad = (left, right, top, bottom, ...).

    mode: 'constant' (with ``value``, default 0), 'reflect', 'replicate' or 'circular'.
    """
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode != "constant" and value not in (None, 0):
        raise ValueError(f"Padding mode \"{mode}\" doesn't take in value argument.")
    return _movement.pad(input, tuple(pad), mode, value)


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None):
    """x / max(||x||_p, eps) along ``dim``."""
    n = input.norm(p, dim, keepdim=True).clamp(min=eps)
    r = input / n
    return r if out is None else out.copy_(r)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8):
    """sum(x1/n1 * x2/n2) along ``dim``, n = max(||x||, eps) (torch's per-norm clamp).

    As PyTorch the clamp is applied outside autograd (its gradient goes through ||x|| even where
    the clamp bites), and ||x|| is norm(), whose gradient at a zero vector is 0: a zero row gets
    the finite gradient x2_hat / eps, not the nan of sqrt'(0) in a composed sqrt(sum(x * x)).
    """
    n1, n2 = _clamp_keep_grad(x1.norm(2, dim, keepdim=True), eps), _clamp_keep_grad(x2.norm(2, dim, keepdim=True), eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def _clamp_keep_grad(n, eps):
    """max(n, eps) in value; d/dn = 1 everywhere (PyTorch clamps the norms in place under no_grad)."""
    return n + (n.clamp(min=eps) - n).detach()


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """||x1 - x2 + eps||_p along the last dim."""
    return (x1 - x2 + eps).norm(p, -1, keepdim=keepdim)


def cdist(x1, x2, p: float = 2.0):
    """Distances between every row of x1 (.., P, M) and of x2 (.., R, M) -> (.., P, R)."""
    d = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (.., P, R, M)
    return d.norm(p, -1)


def _check_shuffle(input, r, what, arg):
    if input.ndim < 3:
        raise RuntimeError(f"{what} expects input to have at least 3 dimensions, but got input with {input.ndim} "
                           "dimension(s)")
    if r <= 0:
        raise RuntimeError(f"{what} expects a positive {arg}, but got {r}")


def pixel_shuffle(input, upscale_factor: int):
    """(N, C*r*r, H, W) -> (N, C, H*r, W*r)."""
    r = upscale_factor
    _check_shuffle(input, r, "pixel_shuffle", "upscale_factor")
    if input.shape[-3] % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={input.shape[-3]} is not divisible by {r * r}")
    lead = tuple(input.shape[:-3])
    c, h, w = input.shape[-3:]
    oc = c // (r * r)
    x = input.reshape(lead + (oc, r, r, h, w))  # (.., C, r, r, H, W)
    k = len(lead)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)  # (.., C, H, r, W, r)
    return x.reshape(lead + (oc, h * r, w * r))


def pixel_unshuffle(input, downscale_factor: int):
    """(N, C, H*r, W*r) -> (N, C*r*r, H, W)."""
    r = downscale_factor
    _check_shuffle(input, r, "pixel_unshuffle", "downscale_factor")
    for name, i in (("height", -2), ("width", -1)):
        if input.shape[i] % r:
            raise RuntimeError(f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but input.size"
                               f"({i})={input.shape[i]} is not divisible by {r}")
    lead = tuple(input.shape[:-3])
    c, hr, wr = input.shape[-3:]
    h, w = hr // r, wr // r
    k = len(lead)
    x = input.reshape(lead + (c, h, r, w, r))  # (.., C, H, r, W, r)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)  # (.., C, r, r, H, W)
    return x.reshape(lead + (c * r * r, h, w))


def channel_shuffle(input, groups: int):
    """(N, g*k, *) -> (N, k*g, *): channel j*k + i moves to i*g + j (ShuffleNet's interleave)."""
    if input.ndim < 3:
        raise RuntimeError(f"channel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.ndim} dimension(s)")
    if groups <= 0:
        raise RuntimeError(f"Number of groups to divide channels in must be positive. Value of groups:{groups}")
    n, c = input.shape[:2]
    if c % groups:
        raise RuntimeError(f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups.")
    rest = tuple(input.shape[2:])
    x = input.reshape((n, groups, c // groups) + rest).transpose(1, 2)   # (N, k, g, *)
    return x.reshape((n, c) + rest)


native_channel_shuffle = channel_shuffle

__all__ = ["pad", "normalize", "cosine_similarity", "pairwise_distance", "cdist", "pixel_shuffle", "pixel_unshuffle",
           "channel_shuffle", "native_channel_shuffle"]
