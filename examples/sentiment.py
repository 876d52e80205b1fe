"""Sentiment of movie-review snippets: a bidirectional LSTM on packed sequences and a small transformer.

    python examples/sentiment.py                       # both models, ~ a few minutes on a laptop CPU
    python examples/sentiment.py --model lstm --epochs 6

Data: VADER's 10,605 movie-review snippets (Hutto & Gilbert, ICWSM 2014, MIT licence), bundled
with blaze. Each carries the mean of 20 human ratings in [-4, 4]; snippets with |score| < 0.5
(--margin) are dropped as neither clearly positive nor negative (533 of them), the rest are
labelled positive (score > 0) or negative. A seeded 80% / 20% split; the vocabulary (torchtext-style
basic_english tokens seen at least twice in training) is built on the training part only.
Prints each model's test accuracy next to the majority-class baseline, and the wall time.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import blaze  # noqa: E402
from tqdm import tqdm  # noqa: E402
from blaze import nn  # noqa: E402
from blaze.data import DataLoader  # noqa: E402
from blaze.data.text import PadCollate, build_vocab_from_iterator, get_tokenizer, movie_review_snippets  # noqa: E402
from blaze.nn import functional as F  # noqa: E402

PAD, UNK = "<pad>", "<unk>"


class LSTMClassifier(nn.Module):
    """Embedding -> bidirectional LSTM over the packed batch -> [h_forward, h_backward] -> 2 logits."""

    def __init__(self, vocab_size: int, embed: int, hidden: int, dropout: float = 0.3):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed, padding_idx=0)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, 2)

    def forward(self, tokens, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(tokens), lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, (h, _) = self.lstm(packed)                       # h (2, B, H): each sequence's own last step
        return self.head(self.drop(blaze.cat([h[0], h[1]], dim=1)))   # (B, 2H) -> (B, 2)


class TransformerClassifier(nn.Module):
    """Token + learned position embeddings -> pre-norm TransformerEncoder (padding masked) -> mean over tokens."""

    def __init__(self, vocab_size: int, d_model: int, nhead: int, layers: int, max_len: int, dropout: float = 0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=0)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, 2 * d_model, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 2)

    def forward(self, tokens, lengths):
        B, T = tokens.shape
        pad = tokens == 0                                   # (B, T) True where padding
        x = self.embed(tokens) + self.pos(blaze.arange(T, device=tokens.device))[None]    # (B, T, d)
        x = self.norm(self.encoder(x, src_key_padding_mask=pad))
        keep = (~pad).to(x.dtype).unsqueeze(-1)             # (B, T, 1)
        return self.head((x * keep).sum(1) / lengths.to(x.dtype).unsqueeze(-1))    # mean of real tokens


def load(path, margin: float, max_len: int, seed: int, limit: int | None):
    rows = [(s, t) for s, t in movie_review_snippets(path) if abs(s) >= margin]
    order = np.random.default_rng(seed).permutation(len(rows))
    rows = [rows[i] for i in order[:limit]]
    tok = get_tokenizer("basic_english")
    tokens = [tok(t)[:max_len] or [UNK] for _, t in rows]
    labels = [int(s > 0) for s, _ in rows]
    cut = int(0.8 * len(rows))
    vocab = build_vocab_from_iterator(tokens[:cut], min_freq=2, specials=[PAD, UNK])
    vocab.set_default_index(vocab[UNK])
    data = [(blaze.tensor(vocab(t), dtype=blaze.int64), y) for t, y in zip(tokens, labels)]
    return data[:cut], data[cut:], vocab


def accuracy(model, data, batch_size, device) -> float:
    model.eval()
    right = 0
    with blaze.no_grad():
        for x, lengths, y in DataLoader(data, batch_size=batch_size, collate_fn=PadCollate()):
            pred = model(x.to(device), lengths.to(device)).argmax(1)
            right += int((pred == y.to(device)).sum())
    model.train()
    return right / len(data)


def train(name, model, train_set, test_set, args) -> tuple[float, float]:
    opt = blaze.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, collate_fn=PadCollate())
    print(f"{name}: {sum(p.numel() for p in model.parameters()):,} parameters")
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        bar = tqdm(loader, desc=f"{name} epoch {epoch + 1}", disable=None)
        for x, lengths, y in bar:
            loss = F.cross_entropy(model(x.to(args.device), lengths.to(args.device)), y.to(args.device))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            bar.set_postfix(loss=float(loss))
    wall = time.perf_counter() - t0
    acc = accuracy(model, test_set, 256, args.device)
    print(f"{name}: test accuracy {acc:.3f} after {args.epochs} epochs, {wall:.0f} s training")
    return acc, wall


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description="LSTM and transformer sentiment classifiers on VADER's movie snippets")
    ap.add_argument("--data", type=Path, default=None,
                    help="movieReviewSnippets_GroundTruth.txt(.gz) (default: the copy bundled with blaze)")
    ap.add_argument("--model", choices=["lstm", "transformer", "both"], default="both")
    ap.add_argument("--margin", type=float, default=0.5, help="drop snippets whose |mean score| is below this")
    ap.add_argument("--max-len", type=int, default=64, help="tokens kept per snippet")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--embed", type=int, default=64, help="embedding / model width")
    ap.add_argument("--hidden", type=int, default=64, help="LSTM hidden size per direction")
    ap.add_argument("--layers", type=int, default=2, help="transformer layers")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--limit", type=int, default=None, help="use only N snippets (smoke tests)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.data is not None and not args.data.is_file():
        raise SystemExit(f"--data {args.data}: no such file (leave --data out to use the copy bundled with blaze)")

    blaze.manual_seed(args.seed)
    train_set, test_set, vocab = load(args.data, args.margin, args.max_len, args.seed, args.limit)
    majority = int(2 * sum(y for _, y in train_set) >= len(train_set))
    baseline = sum(y == majority for _, y in test_set) / len(test_set)
    print(f"data: {len(train_set):,} train / {len(test_set):,} test snippets (|score| >= {args.margin}), "
          f"vocabulary {len(vocab):,}; majority class ({'positive' if majority else 'negative'}) scores "
          f"{baseline:.3f} on test")
    results = {"baseline": baseline}
    if args.model in ("lstm", "both"):
        model = LSTMClassifier(len(vocab), args.embed, args.hidden).to(args.device)
        results["lstm"] = train("lstm", model, train_set, test_set, args)
    if args.model in ("transformer", "both"):
        if args.embed % args.heads:
            raise SystemExit(f"--embed {args.embed} must be divisible by --heads {args.heads}")
        model = TransformerClassifier(len(vocab), args.embed, args.heads, args.layers, args.max_len).to(args.device)
        results["transformer"] = train("transformer", model, train_set, test_set, args)
    return results


if __name__ == "__main__":
    main()
