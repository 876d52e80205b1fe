"""Spatial transformers: affine_grid and grid_sample (4-D and 5-D), as ``torch.nn.functional``.

grid_sample gathers the 2^d (bilinear/trilinear) or 1 (nearest) source pixels of every output location
from the flattened (N, C, H*W) input, so the input gradient is gather's scatter-add and the
grid gradient flows through the bilinear weights (floor/round have zero gradient, as in
PyTorch). Coordinates are clamped (border) or reflected (reflection) before sampling; with
'zeros' the out-of-range corners are masked.
"""
from __future__ import annotations

import itertools
import math

from ...ops.creation import linspace, ones
from ...ops.movement import stack
from ...ops.pointwise import where

__all__ = ["affine_grid", "grid_sample"]


def _base(n, align_corners, like):
    """PyTorch's linspace_from_neg_one: n points in [-1, 1] (pixel centres unless align_corners)."""
    if n <= 1:
        return like.new_zeros((n,))
    r = linspace(-1.0, 1.0, n, dtype=like.dtype, device=like.device)
    return r if align_corners else r * ((n - 1) / n)


def affine_grid(theta, size, align_corners=None):
    """Sampling grid for batched affine maps, as ``torch.nn.functional.affine_grid``.

    theta (N, 2, 3) with size (N, C, H, W) -> grid (N, H, W, 2) of (x, y) in [-1, 1];
    theta (N, 3, 4) with size (N, C, D, H, W) -> (N, D, H, W, 3).
    """
    ac = bool(align_corners)
    if not theta.dtype.is_floating_point:
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = [int(v) for v in size]
    if len(size) == 4:
        if theta.ndim != 3 or tuple(theta.shape[1:]) != (2, 3):
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. Got "
                             f"{list(theta.shape)}.")
        N, _, H, W = size
        xs, ys = _base(W, ac, theta), _base(H, ac, theta)
        base = stack([xs.reshape(1, W).expand(H, W), ys.reshape(H, 1).expand(H, W),
                      ones(H, W, dtype=theta.dtype, device=theta.device)], -1)          # (H, W, 3)
        out_shape = (N, H, W, 2)
    elif len(size) == 5:
        if theta.ndim != 3 or tuple(theta.shape[1:]) != (3, 4):
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. Got "
                             f"{list(theta.shape)}.")
        N, _, D, H, W = size
        xs, ys, zs = _base(W, ac, theta), _base(H, ac, theta), _base(D, ac, theta)
        base = stack([xs.reshape(1, 1, W).expand(D, H, W), ys.reshape(1, H, 1).expand(D, H, W),
                      zs.reshape(D, 1, 1).expand(D, H, W), ones(D, H, W, dtype=theta.dtype, device=theta.device)],
                     -1)                                                                 # (D, H, W, 4)
        out_shape = (N, D, H, W, 3)
    else:
        raise NotImplementedError(f"affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    if min(size[2:]) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != N:
        raise ValueError(f"Expected a batch of affine matrices of size {N}, got {theta.shape[0]}")
    k = base.shape[-1]
    grid = base.reshape(1, -1, k).expand(N, base.numel() // k, k).matmul(theta.transpose(1, 2))
    return grid.reshape(out_shape)


def _reflect(x, lo2, hi2):
    """Reflect coordinates into [lo2/2, hi2/2] (PyTorch's reflect_coordinates); the fold count is constant."""
    if lo2 == hi2:
        return x.new_zeros(tuple(x.shape))
    lo, span = lo2 / 2, (hi2 - lo2) / 2
    d = (x - lo).abs()
    flips = (d / span).floor().detach()
    extra = d - flips * span
    return where(flips.remainder(2) == 0, extra + lo, span - extra + lo)


def _clip(x, size):
    """clamp to [0, size - 1] with zero gradient on the edges too (PyTorch's clip_coordinates_set_grad)."""
    inside = (x > 0) & (x < size - 1)
    return where(inside, x, x.detach().clamp(0, size - 1))


def _source(coord, size, padding_mode, ac):
    """Normalized [-1, 1] -> pixel coordinate, then border clamp / reflection."""
    x = (coord + 1) / 2 * (size - 1) if ac else ((coord + 1) * size - 1) / 2
    if padding_mode == "border":
        x = _clip(x, size)
    elif padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (size - 1)) if ac else _reflect(x, -1, 2 * size - 1)
        x = _clip(x, size)
    return x


_MODES, _PADDING = ("bilinear", "nearest"), ("zeros", "border", "reflection")


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample (N, C, H, W) at grid (N, Ho, Wo, 2) locations (x, y) in [-1, 1] -> (N, C, Ho, Wo);
    or (N, C, D, H, W) at (N, Do, Ho, Wo, 3) locations (x, y, z) -> (N, C, Do, Ho, Wo).

    mode 'bilinear' (trilinear on 5-D) | 'nearest' (round half to even, as PyTorch); padding_mode
    'zeros' | 'border' | 'reflection'; align_corners False: -1 and 1 are the outer edges of the
    corner pixels.
    """
    if mode not in _MODES:
        raise NotImplementedError(f"grid_sample: mode {mode!r} is not supported (supported: {_MODES})")
    if padding_mode not in _PADDING:
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    if input.ndim not in (4, 5):
        raise RuntimeError(f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, but "
                           f"got input with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}")
    nd = input.ndim - 2
    if grid.ndim != input.ndim or grid.shape[-1] != nd or grid.shape[0] != input.shape[0]:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {nd} in last dimension and the batch of "
                           f"input ({input.shape[0]}), but got grid with sizes {list(grid.shape)}")
    if grid.dtype is not input.dtype:
        raise RuntimeError(f"grid_sampler(): expected input and grid to have same dtype, but input has "
                           f"{input.dtype} and grid has {grid.dtype}")
    ac = bool(align_corners)
    N, C = input.shape[:2]
    sizes, out_sp = tuple(input.shape[2:]), tuple(grid.shape[1:-1])
    L = math.prod(out_sp)
    # grid component i (x, y, z) indexes spatial dim nd-1-i (W, H, D); coords in spatial order
    coords = [_source(grid[..., nd - 1 - a], sizes[a], padding_mode, ac).reshape(N, 1, L) for a in range(nd)]
    flat = input.reshape(N, C, math.prod(sizes))
    strides = [math.prod(sizes[a + 1:]) for a in range(nd)]

    def tap(pts):       # values at integer points (N, 1, L) per dim, zero outside the image
        inside, idx = None, None
        for p, n, st in zip(pts, sizes, strides):
            ok = (p >= 0) & (p <= n - 1)
            inside = ok if inside is None else inside & ok
            term = p.clamp(0, n - 1) * st
            idx = term if idx is None else idx + term
        return where(inside, flat.gather(2, idx.long().expand(N, C, L)), 0.0)

    if mode == "nearest":
        out = tap([c.round().detach() for c in coords])
    else:
        lo = [c.floor().detach() for c in coords]
        frac = [c - f for c, f in zip(coords, lo)]
        out = None
        for bits in itertools.product((0, 1), repeat=nd):   # the 2^nd corners
            w = None
            for b, f in zip(bits, frac):
                wa = f if b else 1 - f
                w = wa if w is None else w * wa
            term = tap([f + b for f, b in zip(lo, bits)]) * w
            out = term if out is None else out + term
    return out.reshape((N, C) + out_sp)
