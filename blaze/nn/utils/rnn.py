"""Variable-length batches for the recurrent layers: PackedSequence and its pack/pad helpers (torch.nn.utils.rnn).

A PackedSequence stores the valid steps of a batch sorted by decreasing length, time-major:
``data`` holds the ``batch_sizes[0]`` first steps, then the ``batch_sizes[1]`` second steps, and
so on, so no padding is ever fed to an RNN. Every conversion here is one ``index_select`` with
an index built in NumPy, so gradients flow back to the padded input.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

import blaze

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence", "pack_sequence",
           "unpad_sequence", "unpack_sequence"]


class PackedSequence(NamedTuple):
    """``(data (sum(lengths), *), batch_sizes (T,) int64 cpu, sorted_indices, unsorted_indices)``."""
    data: "blaze.Tensor"
    batch_sizes: "blaze.Tensor"
    sorted_indices: "blaze.Tensor | None" = None
    unsorted_indices: "blaze.Tensor | None" = None

    def to(self, *args, **kwargs) -> "PackedSequence":
        """``data`` (and the index tensors) moved/cast; ``batch_sizes`` stays on the CPU, as PyTorch."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        move = (lambda t: None if t is None else t.to(device=data.device))
        return PackedSequence(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda


def _lengths_array(lengths) -> np.ndarray:
    if isinstance(lengths, blaze.Tensor):
        if lengths.ndim != 1:
            raise RuntimeError(f"'lengths' argument should be a 1D tensor, got {lengths.ndim}D")
        lengths = lengths.cpu().numpy()
    out = np.asarray(lengths)
    if out.ndim != 1 or not (out.dtype.kind in "iu" or (out.size == 0 and out.dtype.kind == "f")):
        raise RuntimeError("'lengths' argument should be a 1D list or tensor of integers")
    return out.astype(np.int64)


def _batch_sizes(sorted_lengths: np.ndarray) -> np.ndarray:
    """batch_sizes[t] = how many sequences are longer than t (lengths sorted decreasing)."""
    T = int(sorted_lengths[0])
    return (sorted_lengths[None, :] > np.arange(T)[:, None]).sum(1).astype(np.int64)  # (T,)


def _packed_rows(batch_sizes: np.ndarray, B: int) -> np.ndarray:
    """Row t*B + b of a (T*B) time-major padded batch for each packed step, in packed order."""
    return np.concatenate([t * B + np.arange(n) for t, n in enumerate(batch_sizes)]).astype(np.int64)


def invert_permutation(perm):
    if perm is None:
        return None
    inv = np.empty(len(perm), dtype=np.int64)
    inv[perm.cpu().numpy()] = np.arange(len(perm))
    return blaze.from_numpy(inv).to(perm.device)


def pack_padded_sequence(input, lengths, batch_first: bool = False, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` if batch_first) whose sequence b has ``lengths[b]`` steps.

    ``enforce_sorted=True`` requires decreasing lengths (as PyTorch, for ONNX export); with
    ``False`` the batch is sorted here and ``unsorted_indices`` restores its order.
    """
    lens = _lengths_array(lengths)
    B = input.shape[0 if batch_first else 1]
    if len(lens) != B:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lens)} (batch_size={B})")
    if B == 0 or lens.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that "
                           "is <= 0")
    T = input.shape[1 if batch_first else 0]
    if lens.max() > T:
        raise RuntimeError(f"lengths[{int(lens.argmax())}] = {int(lens.max())} is longer than the padded input ({T})")
    if batch_first:
        input = input.transpose(0, 1)                                   # (T, B, *)
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                               "to sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = None
    else:
        order = np.argsort(-lens, kind="stable")
        lens = lens[order]
        sorted_indices = blaze.from_numpy(order.astype(np.int64)).to(input.device)
        input = input.index_select(1, sorted_indices)
    batch_sizes = _batch_sizes(lens)
    rows = blaze.from_numpy(_packed_rows(batch_sizes, B)).to(input.device)
    data = input.reshape(T * B, *input.shape[2:]).index_select(0, rows)  # (sum(lengths), *)
    return PackedSequence(data, blaze.from_numpy(batch_sizes), sorted_indices, invert_permutation(sorted_indices))


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None):
    """The inverse of :func:`pack_padded_sequence`: ``(padded (T, B, *) or (B, T, *), lengths (B,) int64)``,
    in the batch order the sequences were packed from."""
    data, bs = sequence.data, sequence.batch_sizes.cpu().numpy().astype(np.int64)
    T, B = len(bs), int(bs[0])
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {T}")
        T = total_length
    index = np.full(T * B, len(data), dtype=np.int64)                  # every slot points at the pad row...
    index[_packed_rows(bs, B)] = np.arange(len(data))                  # ...except the packed steps
    pad_row = blaze.full((1, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    padded = blaze.cat([data, pad_row]).index_select(0, blaze.from_numpy(index).to(data.device))
    padded = padded.reshape(T, B, *data.shape[1:])                     # (T, B, *)
    lengths = (bs[None, :] > np.arange(B)[:, None]).sum(1)             # steps of sorted sequence b
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices.cpu().numpy()]
    return (padded.transpose(0, 1) if batch_first else padded), blaze.from_numpy(lengths.astype(np.int64))


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"):
    """Stack tensors ``(L_i, *)`` into ``(max L, B, *)`` (``(B, max L, *)`` if batch_first), padding each."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    seqs = list(sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    trail = tuple(seqs[0].shape[1:])
    for s in seqs:
        if tuple(s.shape[1:]) != trail:
            raise RuntimeError(f"The size of every sequence must match after the first dimension: {trail} vs "
                               f"{tuple(s.shape[1:])}")
    lens = np.array([s.shape[0] for s in seqs], dtype=np.int64)
    T, B, N = int(lens.max()), len(seqs), int(lens.sum())
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    index = np.full((B, T), N, dtype=np.int64)                         # N: the pad row
    for b, (st, n) in enumerate(zip(starts, lens)):
        cols = np.arange(n) if padding_side == "right" else np.arange(T - n, T)
        index[b, cols] = st + np.arange(n)
    order = index if batch_first else index.T
    flat = blaze.cat([*seqs, blaze.full((1, *trail), padding_value, dtype=seqs[0].dtype, device=seqs[0].device)])
    out = flat.index_select(0, blaze.from_numpy(order.reshape(-1).copy()).to(flat.device))
    return out.reshape(*order.shape, *trail)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors ``(L_i, *)`` (decreasing L_i unless ``enforce_sorted=False``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first: bool = False) -> list:
    """The list of unpadded tensors ``(lengths[b], *)`` of a padded batch."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)   # (B, T, *)
    return [x[b, :int(n)] for b, n in enumerate(_lengths_array(lengths))]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of tensors a :class:`PackedSequence` was packed from, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
