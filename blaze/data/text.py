"""Text: character blocks for language models, word tokenizers, a vocabulary, padding collate, bundled corpora.

The tokenizer and vocabulary mirror torchtext (``get_tokenizer("basic_english")``,
``build_vocab_from_iterator``, ``Vocab``), which PyTorch users already know.
"""
from __future__ import annotations

import gzip
import os
import re
from collections import Counter
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


# ---- bundled corpora --------------------------------------------------------------------

BUNDLED = Path(__file__).resolve().with_name("bundled")


def austen_excerpt_path() -> Path:
    """Chapters 1-20 of *Pride and Prejudice* shipped with blaze (200 KB, public domain)."""
    return BUNDLED / "austen_pride_and_prejudice_ch1-20.txt"


def movie_review_snippets(path=None) -> list[tuple[float, str]]:
    """VADER's 10,605 movie-review snippets as ``(mean human score in [-4, 4], text)``.

    Args:
        path: the TSV ``id<TAB>score<TAB>text`` (plain or .gz); default: the copy bundled with
            blaze (MIT licence, Hutto & Gilbert, ICWSM 2014; see ``bundled/README.md``).
    """
    path = Path(path) if path is not None else BUNDLED / "movieReviewSnippets_GroundTruth.txt.gz"
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        rows = []
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) != 3:
                raise ValueError(f"{path}:{n}: expected 3 tab-separated fields (id, score, text), got {len(parts)}")
            rows.append((float(parts[1]), parts[2]))
    return rows


# ---- tokenizers -------------------------------------------------------------------------

# torchtext's basic_english rules, in its order: quotes and sentence punctuation become tokens,
# "<br />" (IMDB's line breaks) and ; : become spaces
_BASIC_ENGLISH = [(re.compile(p), r) for p, r in [
    (r"\'", " '  "), (r'\"', ""), (r"\.", " . "), (r"<br \/>", " "), (r",", " , "), (r"\(", " ( "),
    (r"\)", " ) "), (r"\!", " ! "), (r"\?", " ? "), (r"\;", " "), (r"\:", " "), (r"\s+", " ")]]


def _basic_english(line: str) -> list[str]:
    line = line.lower()
    for pattern, repl in _BASIC_ENGLISH:
        line = pattern.sub(repl, line)
    return line.split()


class RegexTokenizer:
    """Tokens = the matches of ``pattern`` (default: words with inner apostrophes, and single
    punctuation marks), lower-cased unless ``lower=False``.

    Example::

        RegexTokenizer()("Don't panic, Arthur!")   # ["don't", 'panic', ',', 'arthur', '!']
    """

    def __init__(self, pattern: str = r"\w+(?:'\w+)*|[^\w\s]", lower: bool = True):
        self.pattern, self.lower = re.compile(pattern), lower

    def __call__(self, line: str) -> list[str]:
        return self.pattern.findall(line.lower() if self.lower else line)

    def __repr__(self):
        return f"RegexTokenizer({self.pattern.pattern!r}, lower={self.lower})"


_TOKENIZERS = {"basic_english": _basic_english, "words": RegexTokenizer()}


def get_tokenizer(tokenizer, language: str = "en"):
    """A callable ``str -> list[str]`` (torchtext's ``get_tokenizer``).

    Args:
        tokenizer: ``None`` (split on whitespace), ``"basic_english"`` (torchtext's rules),
            ``"words"`` (:class:`RegexTokenizer`), or any callable, returned as is.
        language: only ``"en"`` for ``"basic_english"``, as torchtext.
    """
    if callable(tokenizer):
        return tokenizer
    if tokenizer is None:
        return str.split
    if tokenizer not in _TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenizer!r}; choose from None, {', '.join(map(repr, _TOKENIZERS))} "
                         "or pass a callable")
    if tokenizer == "basic_english" and language != "en":
        raise ValueError(f"Basic normalization is only available for English(en), got {language!r}")
    return _TOKENIZERS[tokenizer]


# ---- vocabulary -------------------------------------------------------------------------

class Vocab:
    """Token <-> index maps (torchtext's ``Vocab``): ``vocab[token]``, ``vocab(tokens)``,
    ``lookup_tokens(indices)``; unknown tokens map to the default index once one is set."""

    def __init__(self, tokens):
        self._itos = list(tokens)
        self._stoi = {}
        for i, t in enumerate(self._itos):
            if t in self._stoi:
                raise RuntimeError(f"Duplicate token {t!r} in the vocabulary")
            self._stoi[t] = i
        self._default = None

    def __len__(self):
        return len(self._itos)

    def __contains__(self, token):
        return token in self._stoi

    def __getitem__(self, token: str) -> int:
        i = self._stoi.get(token, self._default)
        if i is None:
            raise RuntimeError(f"Token {token!r} not found and default index is not set")
        return i

    def __call__(self, tokens) -> list[int]:
        return self.lookup_indices(tokens)

    def set_default_index(self, index: int | None) -> None:
        if index is not None and not 0 <= index < len(self):
            raise IndexError(f"default index {index} is out of range for a vocabulary of {len(self)} tokens")
        self._default = index

    def get_default_index(self) -> int | None:
        return self._default

    def lookup_indices(self, tokens) -> list[int]:
        return [self[t] for t in tokens]

    def lookup_token(self, index: int) -> str:
        if not 0 <= index < len(self):
            raise RuntimeError(f"Specified index {index} is out of bounds of the size of itos dictionary: "
                               f"{len(self)}.")
        return self._itos[index]

    def lookup_tokens(self, indices) -> list[str]:
        return [self.lookup_token(int(i)) for i in indices]

    def get_itos(self) -> list[str]:
        return list(self._itos)

    def get_stoi(self) -> dict[str, int]:
        return dict(self._stoi)

    def append_token(self, token: str) -> None:
        if token in self._stoi:
            raise RuntimeError(f"Token {token!r} already exists in the Vocab")
        self._stoi[token] = len(self._itos)
        self._itos.append(token)

    def __repr__(self):
        return f"Vocab({len(self)} tokens, default_index={self._default})"


def build_vocab_from_iterator(iterator, min_freq: int = 1, specials=None, special_first: bool = True,
                              max_tokens: int | None = None) -> Vocab:
    """A :class:`Vocab` from an iterable of token lists (torchtext's function and ordering).

    Tokens are ordered by descending frequency, ties alphabetically; ``specials`` go first (or
    last) whatever their counts; ``max_tokens`` counts the specials too.

    Example::

        vocab = build_vocab_from_iterator(map(tok, lines), min_freq=2, specials=["<pad>", "<unk>"])
        vocab.set_default_index(vocab["<unk>"])
    """
    if min_freq < 1:
        raise ValueError(f"min_freq must be at least 1, got {min_freq}")
    specials = list(specials or [])
    if max_tokens is not None and max_tokens <= len(specials):
        raise ValueError("len(specials) >= max_tokens, so the vocab will be entirely special tokens.")
    counter = Counter()
    for tokens in iterator:
        counter.update(tokens)
    for s in specials:
        counter.pop(s, None)
    ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    words = [t for t, c in ordered if c >= min_freq]
    if max_tokens is not None:
        words = words[:max_tokens - len(specials)]
    return Vocab(specials + words if special_first else words + specials)


# ---- collate ----------------------------------------------------------------------------

class PadCollate:
    """``collate_fn`` for ``(token ids, label)`` samples of different lengths.

    Returns ``(padded (B, T) int64 | PackedSequence, lengths (B,) int64, labels (B,))``;
    ``pack=True`` packs with ``enforce_sorted=False`` so the batch order is kept.

    Example::

        loader = DataLoader(ds, batch_size=64, collate_fn=PadCollate(padding_value=vocab["<pad>"]))
    """

    def __init__(self, padding_value: int = 0, batch_first: bool = True, pack: bool = False):
        self.padding_value, self.batch_first, self.pack = padding_value, batch_first, pack

    def __call__(self, batch):
        from blaze.nn.utils.rnn import pack_padded_sequence, pad_sequence
        seqs = [s if isinstance(s, blaze.Tensor) else blaze.tensor(list(s), dtype=blaze.int64) for s, _ in batch]
        lengths = blaze.tensor([len(s) for s in seqs], dtype=blaze.int64)
        padded = pad_sequence(seqs, batch_first=self.batch_first, padding_value=self.padding_value)
        labels = blaze.tensor([y for _, y in batch])
        if self.pack:
            padded = pack_padded_sequence(padded, lengths, batch_first=self.batch_first, enforce_sorted=False)
        return padded, lengths, labels
