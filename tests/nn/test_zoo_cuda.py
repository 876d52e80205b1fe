"""Issue 13's layers and losses on the "cuda" device (a real GPU, or emulated: the same Triton kernels
through the interpreter) give the CPU results, forward and input gradients."""
import pytest

import blaze
import blaze.nn.functional as F
from tests.nn.helpers import compare_devices


def _i(rows, dev):
    return blaze.tensor(rows).to(dev)


# name -> (fn(*tensors), input shapes); index tensors are built on the input's device inside fn
CASES = {
    "conv3d": (lambda x, w: F.conv3d(x, w, stride=(2, 1, 1), padding=1), [(1, 2, 3, 4, 3), (2, 2, 2, 2, 2)]),
    "conv_transpose3d": (lambda x, w: F.conv_transpose3d(x, w, stride=2, output_padding=1), [(1, 2, 2, 2, 2),
                                                                                           (2, 1, 2, 2, 2)]),
    "max_pool3d_idx": (lambda x: F.max_pool3d(x, 2, 1, 1, return_indices=True)[0], [(1, 2, 3, 3, 3)]),
    "avg_pool3d": (lambda x: F.avg_pool3d(x, 2, 2, 1, ceil_mode=True, count_include_pad=False), [(1, 2, 3, 4, 3)]),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, (2, 3)), [(1, 2, 5, 4)]),
    "adaptive_avg_pool3d": (lambda x: F.adaptive_avg_pool3d(x, 2), [(1, 2, 3, 3, 3)]),
    "lp_pool2d": (lambda x: F.lp_pool2d(x, 2, 2), [(1, 2, 4, 4)]),
    "max_unpool2d": (lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2), [(1, 2, 4, 4)]),
    "pad_reflect_3d": (lambda x: F.pad(x, (1, 1, 2, 0, 1, 1), mode="reflect"), [(1, 2, 3, 3, 3)]),
    "unfold_fold": (lambda x: F.fold(F.unfold(x, 2, padding=1), (3, 4), 2, padding=1), [(1, 2, 3, 4)]),
    "embedding_bag_max": (lambda w: F.embedding_bag(_i([1, 2, 4, 1, 3], w.device), w, _i([0, 2, 2], w.device),
                                                     mode="max", padding_idx=3), [(6, 3)]),
    "grid_sample": (lambda x, g: F.grid_sample(x, g.tanh() * 1.2, padding_mode="reflection"), [(1, 2, 3, 4), (1, 2, 3, 2)]),
    "grid_sample_5d": (lambda x, g: F.grid_sample(x, g.tanh(), align_corners=True), [(1, 2, 2, 3, 3), (1, 2, 2, 1, 3)]),
    "affine_grid": (lambda t: F.affine_grid(t, (2, 1, 3, 4)), [(2, 2, 3)]),
    "channel_shuffle": (lambda x: F.channel_shuffle(x, 2), [(1, 4, 3)]),
    "ctc": (lambda x: F.ctc_loss(x.log_softmax(2), _i([[1, 2], [2, 2]], x.device), [4, 3], [2, 1]), [(4, 2, 3)]),
    "triplet": (lambda a, p, n: F.triplet_margin_loss(a, p, n, swap=True), [(3, 4), (3, 4), (3, 4)]),
    "multi_margin": (lambda x: F.multi_margin_loss(x, _i([0, 2, 1], x.device), p=2), [(3, 4)]),
    "multilabel_margin": (lambda x: F.multilabel_margin_loss(x, _i([[1, 0, -1, 2], [3, -1, 0, 0], [2, 1, 0, 3]], x.device)),
                          [(3, 4)]),
    "gaussian_nll": (lambda x, v: F.gaussian_nll_loss(x, x * 0.5, v.abs() + 0.1), [(3, 4), (3, 4)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_zoo_ops_match_cpu(name):
    compare_devices(*CASES[name], rtol=1e-4)
