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


# ---- tokenizers, vocabulary, collate, bundled corpora --------------------------------------

from blaze.data.text import (PadCollate, RegexTokenizer, Vocab, austen_excerpt_path,  # noqa: E402
                             build_vocab_from_iterator, get_tokenizer, movie_review_snippets)


def test_basic_english_matches_torchtext_rules():
    tok = get_tokenizer("basic_english")
    # traced by hand through torchtext 0.18's _patterns: double quotes dropped, ' split off, <br /> ; : removed
    assert tok('He said "No!" (twice); it\'s 3.5<br />OK: fine, sure?') == [
        "he", "said", "no", "!", "(", "twice", ")", "it", "'", "s", "3", ".", "5", "ok", "fine", ",", "sure", "?"]
    assert get_tokenizer(None)("a  b\tc") == ["a", "b", "c"]
    assert get_tokenizer(str.upper) is str.upper
    with pytest.raises(ValueError, match="only available for English"):
        get_tokenizer("basic_english", language="de")
    with pytest.raises(ValueError, match="unknown tokenizer"):
        get_tokenizer("spacy")


def test_regex_tokenizer():
    assert RegexTokenizer()("Don't panic, Arthur!") == ["don't", "panic", ",", "arthur", "!"]
    assert RegexTokenizer(r"[A-Z]\w*", lower=False)("Mr Bennet and Mrs Bennet") == ["Mr", "Bennet", "Mrs", "Bennet"]


def test_build_vocab_order_specials_min_freq_max_tokens():
    lines = [["b", "a", "c"], ["a", "b"], ["a", "d", "<pad>"]]
    v = build_vocab_from_iterator(lines, specials=["<pad>", "<unk>"])
    assert v.get_itos() == ["<pad>", "<unk>", "a", "b", "c", "d"]   # by count, ties alphabetical
    assert build_vocab_from_iterator(lines, min_freq=2).get_itos() == ["a", "b"]
    assert build_vocab_from_iterator(lines, specials=["<unk>"], special_first=False).get_itos()[-1] == "<unk>"
    assert build_vocab_from_iterator(lines, specials=["<unk>"], max_tokens=3).get_itos() == ["<unk>", "a", "b"]
    with pytest.raises(ValueError, match="entirely special"):
        build_vocab_from_iterator(lines, specials=["<unk>"], max_tokens=1)


def test_vocab_lookups_and_default_index():
    v = Vocab(["<unk>", "hello", "world"])
    assert v["world"] == 2 and v(["hello", "world"]) == [1, 2] and "hello" in v and len(v) == 3
    with pytest.raises(RuntimeError, match="default index is not set"):
        v["mars"]
    v.set_default_index(0)
    assert v.lookup_indices(["hello", "mars"]) == [1, 0] and v.get_default_index() == 0
    assert v.lookup_tokens(blaze.tensor([2, 1])) == ["world", "hello"]
    with pytest.raises(RuntimeError, match="out of bounds"):
        v.lookup_token(3)
    with pytest.raises(IndexError):
        v.set_default_index(5)
    v.append_token("mars")
    assert v["mars"] == 3
    with pytest.raises(RuntimeError, match="Duplicate"):
        Vocab(["a", "a"])


def test_pad_collate_pads_and_packs():
    batch = [([4, 5], 1), ([6, 7, 8], 0), ([9], 1)]
    x, lengths, y = PadCollate(padding_value=0)(batch)
    assert x.tolist() == [[4, 5, 0], [6, 7, 8], [9, 0, 0]] and lengths.tolist() == [2, 3, 1]
    assert y.tolist() == [1, 0, 1] and x.dtype == blaze.int64
    packed, _, _ = PadCollate(pack=True)(batch)
    assert packed.data.tolist() == [6, 4, 9, 7, 5, 8] and packed.unsorted_indices.tolist() == [1, 0, 2]


def test_bundled_corpora(tmp_path):
    text = austen_excerpt_path().read_text(encoding="utf-8")
    assert text.startswith("PRIDE AND PREJUDICE") and len(text) == 200_735 and "Chapter 20" in text
    rows = movie_review_snippets()
    assert len(rows) == 10_605 and rows[2] == (-0.6, "Effective but too tepid biopic")
    assert all(-4 <= s <= 4 for s, _ in rows)
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\t0.5\n", encoding="utf-8")
    with pytest.raises(ValueError, match="3 tab-separated"):
        movie_review_snippets(bad)


def test_bundled_corpora_are_the_shared_data(shared_data):
    import gzip
    novel = (shared_data / "text" / "austen_pride_and_prejudice.txt").read_text(encoding="utf-8")
    assert novel.startswith(austen_excerpt_path().read_text(encoding="utf-8"))
    bundled = gzip.decompress((austen_excerpt_path().parent / "movieReviewSnippets_GroundTruth.txt.gz").read_bytes())
    assert bundled == (shared_data / "sentiment" / "movieReviewSnippets_GroundTruth.txt").read_bytes()
