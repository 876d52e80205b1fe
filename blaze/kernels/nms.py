"""Non-maximum suppression over boxes sorted by descending score: an IoU bit matrix, then a greedy pass.

Two kernels, as torchvision's CUDA NMS, but with the sequential pass on the device too:

- ``_nms_mask_kernel``: a (BLOCK_I, 64) tile of pairwise IoUs per program, packed into one int64
  word per row: bit j of word (i, w) says box ``64 w + j`` (later than i) overlaps box i by more
  than the threshold. Read 8N floats per program row, write N*N/64 words (N = 5000: 3 MB).
- ``_nms_suppress_kernel``: one program walks the boxes in score order, keeping a bit vector of
  removed boxes in registers (ceil(N/64) words) and OR-ing in the row of every kept box. Read
  N*N/64 words, write N bytes. No host round trip: the keep mask stays on the device.
"""
from __future__ import annotations

import triton
import triton.language as tl

from blaze._env import interpret
from blaze.kernels.buffer import check_buffer
from blaze.kernels.registry import Tunable, config_for, launch_options, register

WORD = 64
# the suppression pass keeps ceil(N / 64) words in one program's registers: 2**15 words = 2M boxes
MAX_WORDS = 1 << 15


@triton.jit
def _nms_mask_kernel(b_ptr, m_ptr, N, W, stride_b, stride_m, threshold,
                     BLOCK_I: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_I + tl.arange(0, BLOCK_I)
    word = tl.program_id(1)
    cols = word * 64 + tl.arange(0, 64)
    rok, cok = rows < N, cols < N
    r64, c64 = rows.to(tl.int64) * stride_b, cols.to(tl.int64) * stride_b
    ax1 = tl.load(b_ptr + r64, mask=rok, other=0.0)
    ay1 = tl.load(b_ptr + r64 + 1, mask=rok, other=0.0)
    ax2 = tl.load(b_ptr + r64 + 2, mask=rok, other=0.0)
    ay2 = tl.load(b_ptr + r64 + 3, mask=rok, other=0.0)
    bx1 = tl.load(b_ptr + c64, mask=cok, other=0.0)
    by1 = tl.load(b_ptr + c64 + 1, mask=cok, other=0.0)
    bx2 = tl.load(b_ptr + c64 + 2, mask=cok, other=0.0)
    by2 = tl.load(b_ptr + c64 + 3, mask=cok, other=0.0)
    iw = tl.maximum(tl.minimum(ax2[:, None], bx2[None, :]) - tl.maximum(ax1[:, None], bx1[None, :]), 0.0)
    ih = tl.maximum(tl.minimum(ay2[:, None], by2[None, :]) - tl.maximum(ay1[:, None], by1[None, :]), 0.0)
    inter = iw * ih
    area_a = (ax2 - ax1) * (ay2 - ay1)
    area_b = (bx2 - bx1) * (by2 - by1)
    iou = inter / (area_a[:, None] + area_b[None, :] - inter)  # 0/0 = NaN never suppresses, as torchvision
    hit = (iou > threshold) & (cols[None, :] > rows[:, None]) & cok[None, :]
    # distinct powers of two: their sum is their OR (bit 63 wraps to the sign bit, still the right pattern)
    bits = tl.full([64], 1, tl.int64) << tl.arange(0, 64).to(tl.int64)
    words = tl.sum(tl.where(hit, bits[None, :], 0), axis=1)
    tl.store(m_ptr + rows.to(tl.int64) * stride_m + word, words, mask=rok)


@triton.jit
def _nms_suppress_kernel(m_ptr, keep_ptr, N, W, stride_m, BLOCK_W: tl.constexpr):
    w = tl.arange(0, BLOCK_W)
    wok = w < W
    removed = tl.zeros([BLOCK_W], tl.int64)
    row_ptr = m_ptr + w  # advanced a row per step: 64-bit pointer arithmetic, no i * stride overflow
    for i in range(0, N):
        mine = tl.sum(tl.where(w == i // 64, removed, 0))
        kept = ((mine >> (i % 64)) & 1) == 0
        row = tl.load(row_ptr, mask=wok, other=0)
        removed = removed | tl.where(kept, row, 0)
        row_ptr += stride_m
        tl.store(keep_ptr + i, kept.to(tl.int8))


# ---------------------------------------------------------------------------------------
# launcher

def nms_sorted(boxes, iou_threshold: float, out=None, config: dict | None = None):
    """Greedy NMS keep mask of boxes sorted by descending score.

    Args:
        boxes: (N, 4) float32/float64 xyxy buffer, rows in score order, columns contiguous.
        iou_threshold: a later box is dropped when its IoU with a kept box is > this.
        out: optional (N,) int8 buffer for the mask.
        config: optional ``dict(BLOCK_I=, num_warps=)`` for the IoU kernel.
    Returns:
        keep: (N,) int8 buffer, 1 where the box is kept.
    """
    check_buffer("nms: boxes", boxes, ndim=2, dtypes=("float32", "float64"))
    n = boxes.shape[0]
    if boxes.shape[1] != 4:
        raise ValueError(f"nms: boxes must have shape (N, 4), got {tuple(boxes.shape)}")
    if n > 0 and boxes.strides[1] != 1:
        raise ValueError(f"nms: the last dim of boxes must be contiguous, got strides {tuple(boxes.strides)}")
    words = triton.cdiv(n, WORD)
    if words > MAX_WORDS:
        raise ValueError(f"nms: at most {MAX_WORDS * WORD} boxes, got {n}")
    if out is None:
        out = boxes.new((n,), "int8")
    check_buffer("nms: out", out, ndim=1, dtypes=("int8",))
    if n == 0:
        return out
    mask = boxes.new((n, words), "int64")
    cfg = config or config_for("nms", {"N": n, "dtype": str(boxes.dtype)})
    meta, opts = launch_options(cfg)
    grid = (triton.cdiv(n, meta["BLOCK_I"]), words)
    _nms_mask_kernel[grid](boxes, mask, n, words, boxes.strides[0], words, float(iou_threshold),
                           BLOCK_I=meta["BLOCK_I"], **opts)
    _nms_suppress_kernel[(1,)](mask, out, n, words, words, BLOCK_W=triton.next_power_of_2(words))
    return out


# ---------------------------------------------------------------------------------------
# heuristic and registry

NMS_CONFIGS = [dict(BLOCK_I=bi, num_warps=w, num_stages=1) for bi, w in
               [(16, 2), (32, 4), (64, 4), (64, 8), (128, 8)]]


def nms_heuristic(problem: dict) -> dict:
    """A (32, 64) IoU tile (2048 pairs, 4 warps); the interpreter takes the whole column block at once."""
    if interpret():
        return dict(BLOCK_I=min(triton.next_power_of_2(max(int(problem["N"]), 1)), 1024), num_warps=4, num_stages=1)
    return dict(BLOCK_I=32, num_warps=4, num_stages=1)


def make_nms_problem(problem: dict, new_buffer):
    """run(config): NMS over N random boxes."""
    n = int(problem["N"])
    raw = new_buffer((n, 4), problem["dtype"])
    keep = raw.new((n,), "int8")

    def run(config):
        nms_sorted(raw, 0.5, out=keep, config=config)
    return run


NMS = register(Tunable(
    name="nms",
    configs=NMS_CONFIGS,
    heuristic=nms_heuristic,
    make_problem=make_nms_problem,
    doc="non-maximum suppression: IoU bit matrix + on-device greedy pass",
    problem_keys=("N", "dtype"),
))
