"""Character-level text: a vocabulary and (input, next-character target) blocks for language models."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import blaze

from blaze.utils.data.dataset import Dataset


_TEXT_SUFFIXES = (".txt", ".text", ".md")


def _read_texts(source) -> str:
    """A string is text unless it names an existing file; a Path or a list means files."""
    if isinstance(source, (list, tuple)):
        return "\n".join(Path(p).read_text(encoding="utf-8") for p in source)
    if isinstance(source, os.PathLike):
        return Path(source).read_text(encoding="utf-8")
    if isinstance(source, str):
        one_line = len(source) < 4096 and "\n" not in source
        # a missing "book.txt" must fail loudly, not become an 8-character corpus
        if one_line and (os.path.isfile(source) or source.lower().endswith(_TEXT_SUFFIXES)):
            return Path(source).read_text(encoding="utf-8")
        return source
    raise TypeError(f"CharDataset expects a string, a path or a list of paths, got {type(source).__name__}")


class CharDataset(Dataset):
    """Every window of ``block_size + 1`` characters as ``(x, y)``, y = x shifted by one.

    Args:
        text_or_paths: the text itself, a path (str naming an existing file, or Path), or a
            list of paths (joined with newlines).
        block_size: context length T; items are int64 tensors of shape (T,).
        chars: a fixed vocabulary (e.g. a training set's ``itos``); default: the sorted
            characters of the text.

    Example::

        ds = CharDataset("hello world", block_size=4)
        x, y = ds[0]            # encodes "hell", "ello"
        ds.decode(x.numpy())    # 'hell'
    """

    def __init__(self, text_or_paths, block_size: int, chars=None):
        if block_size < 1:
            raise ValueError(f"block_size must be positive, got {block_size}")
        text = _read_texts(text_or_paths)
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # one code point per character
        if chars is None:
            uniq, ids = np.unique(codes, return_inverse=True)  # sorted code points = sorted characters
            self.itos = [chr(c) for c in uniq.tolist()]
        else:
            self.itos = list(chars)
            table = np.array([ord(c) for c in self.itos], dtype=np.uint32)
            order = np.argsort(table)
            pos = np.searchsorted(table[order], codes).clip(0, len(table) - 1)
            unknown = table[order][pos] != codes
            if unknown.any():
                bad = sorted({chr(c) for c in codes[unknown][:1000].tolist()})
                raise ValueError(f"text has characters outside the given vocabulary: {bad[:10]}")
            ids = order[pos]
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}
        self.block_size = block_size
        # int32 halves the memory of 4 M characters; items are widened to int64 per block
        self.data = ids.astype(np.int32)
        if len(self.data) <= block_size:
            raise ValueError(f"text of {len(self.data)} characters is too short for block_size {block_size}")

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, s: str) -> list[int]:
        """Characters -> ids (KeyError for a character outside the vocabulary)."""
        return [self.stoi[c] for c in s]

    def decode(self, ids) -> str:
        """Ids (list, ndarray or tensor) -> string."""
        if isinstance(ids, blaze.Tensor):
            ids = ids.numpy()
        return "".join(self.itos[int(i)] for i in np.asarray(ids).reshape(-1))

    def __len__(self):
        return len(self.data) - self.block_size

    def __getitem__(self, idx):
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f"index {idx} is out of range for a dataset of size {len(self)}")
        chunk = self.data[idx:idx + self.block_size + 1].astype(np.int64)
        return blaze.from_numpy(chunk[:-1]), blaze.from_numpy(chunk[1:])
