"""CharDataset (blaze.data.text): characters of a string or of UTF-8 files, as (x, y) index blocks."""
import pytest

import blaze
from blaze.data.datasets import CharDataset


def test_char_dataset_on_text():
    ds = CharDataset("hello world", block_size=4)
    assert ds.itos == sorted(set("hello world")) and ds.vocab_size == 8
    assert len(ds) == 11 - 4
    x, y = ds[1]
    assert x.dtype == blaze.int64 and ds.decode(x) == "ello" and ds.decode(y) == "llo "
    assert ds.decode(ds.encode("low")) == "low"
    with pytest.raises(IndexError):
        ds[7]
    shared = CharDataset("old", 1, chars=ds.itos)
    assert shared.stoi == ds.stoi
    with pytest.raises(ValueError, match="vocabulary"):
        CharDataset("xyz!", 1, chars=ds.itos)
    with pytest.raises(ValueError, match="too short"):
        CharDataset("abc", 3)
    with pytest.raises(FileNotFoundError, match="no_such_book.txt"):
        CharDataset("no_such_book.txt", 3)  # a missing file is an error, not an 18-character text


def test_char_dataset_on_austen(shared_data):
    path = shared_data / "text" / "austen_persuasion.txt"
    ds = CharDataset(path, block_size=32)
    text = path.read_text(encoding="utf-8")
    assert len(ds) == len(text) - 32
    x, y = ds[12345]
    assert ds.decode(x) == text[12345:12377] and ds.decode(y) == text[12346:12378]
    both = CharDataset([path, shared_data / "text" / "austen_emma.txt"], block_size=8)
    assert len(both) > len(ds) and str(path) != ds.decode(ds[0][0])
