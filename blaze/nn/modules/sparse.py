"""Embedding: a lookup table of learnable rows."""
from __future__ import annotations

from ...autograd.grad_mode import no_grad
from ...ops.creation import empty
from .. import functional as F
from ..functional.sparse import _padding_idx
from .. import init
from ..parameter import Parameter
from .module import Module


def _init_table(m, _weight, freeze, device, dtype):
    """m.weight: (num_embeddings, embedding_dim) from ``_weight``, else N(0, 1) with a zero padding row."""
    shape = (m.num_embeddings, m.embedding_dim)
    if _weight is None:
        m.weight = Parameter(empty(*shape, device=device, dtype=dtype), requires_grad=not freeze)
        m.reset_parameters()
    else:
        if tuple(_weight.shape) != shape:
            raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
        m.weight = Parameter(_weight, requires_grad=not freeze)


_REPR_DEFAULTS = {"padding_idx": None, "max_norm": None, "norm_type": 2, "scale_grad_by_freq": False,
                  "sparse": False}


def _table_repr(m, names):
    """PyTorch's extra_repr: the sizes, then each option that differs from its default (mode always)."""
    s = f"{m.num_embeddings}, {m.embedding_dim}"
    for n in names:
        v = getattr(m, n)
        if n not in _REPR_DEFAULTS or v != _REPR_DEFAULTS[n]:
            s += f", {n}={v!r}"
    return s


class Embedding(Module):
    """Rows of ``weight`` (num_embeddings, embedding_dim) ~ N(0, 1) picked by integer ids.

    ``padding_idx``'s row is initialised to zero and gets no gradient.

    Example::

        emb = nn.Embedding(10000, 256, padding_idx=0)
        h = emb(tokens)            # (B, T) int64 -> (B, T, 256)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = _padding_idx(padding_idx, num_embeddings)
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        _init_table(self, _weight, _freeze, device, dtype)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        return _table_repr(self, ("padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"))

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False):
        """An Embedding whose weight is ``embeddings`` (2-D); frozen (no grad) by default."""
        if embeddings.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings.detach(), _freeze=freeze)


class EmbeddingBag(Module):
    """Sums, means or maxes of bags of embedding rows without the (B, L, D) intermediate in user code.

    ``forward(input, offsets=None, per_sample_weights=None)``: input (B, L) bags, or 1-D ids
    with ``offsets``; returns (B, embedding_dim). Example::

        bag = nn.EmbeddingBag(1000, 16, mode="sum")
        out = bag(ids, offsets)          # ids (n,), offsets (B,) -> (B, 16)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm=None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False, _weight=None,
                 include_last_offset: bool = False, padding_idx=None, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        self.padding_idx = _padding_idx(padding_idx, num_embeddings, "padding_idx must be within num_embeddings")
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset
        _init_table(self, _weight, False, device, dtype)

    reset_parameters = Embedding.reset_parameters

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                               self.mode, self.sparse, per_sample_weights, self.include_last_offset,
                               self.padding_idx)

    def extra_repr(self) -> str:
        return _table_repr(self, ("max_norm", "norm_type", "scale_grad_by_freq", "mode", "padding_idx"))

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, max_norm=None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                        include_last_offset: bool = False, padding_idx=None):
        """An EmbeddingBag whose weight is ``embeddings`` (2-D); frozen by default."""
        if embeddings.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        bag = cls(*embeddings.shape, max_norm, norm_type, scale_grad_by_freq, mode, sparse, embeddings.detach(),
                  include_last_offset, padding_idx)
        bag.weight.requires_grad = not freeze
        return bag


__all__ = ["Embedding", "EmbeddingBag"]
