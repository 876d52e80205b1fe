"""A small character-level GPT (decoder-only transformer) on Jane Austen (bundled excerpt, or --data DIR).

    python examples/char_gpt.py                      # ~ a few minutes on a laptop CPU
    python examples/char_gpt.py --steps 5000 --n-layer 6 --n-embd 384 --device cuda

nanoGPT's model, one readable file: token + position embeddings, pre-norm blocks of causal
self-attention (F.scaled_dot_product_attention, is_causal=True) and a GELU MLP, a final
LayerNorm and a read-out tied to the token embedding. AdamW with warm-up then cosine decay.
Prints the validation loss in nats per character and a sample.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

import blaze  # noqa: E402
from tqdm import tqdm  # noqa: E402
from blaze import nn  # noqa: E402
from blaze.data import DataLoader, RandomSampler  # noqa: E402
from blaze.nn import functional as F  # noqa: E402

from char_lstm import DEFAULT_DATA, load_text, split  # noqa: E402  (same data handling)


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 128
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)  # q, k, v in one GEMM
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.resid_drop = nn.Dropout(cfg.dropout)
        self.n_head, self.dropout = cfg.n_head, cfg.dropout

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)                       # 3 x (B, T, C)
        q = q.reshape(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.reshape(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.reshape(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=True)             # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)                         # (B, T, C): heads side by side
        return self.resid_drop(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.drop(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))  # GPT-2 uses the tanh form


class Block(nn.Module):
    """Pre-norm: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(cfg.n_embd), CausalSelfAttention(cfg)
        self.ln_2, self.mlp = nn.LayerNorm(cfg.n_embd), MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf, 2017)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by 1/sqrt(2 * n_layer)
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of length {T} exceeds block_size {self.cfg.block_size}")
        pos = blaze.arange(T, device=idx.device)                         # (T,)
        x = self.drop(self.wte(idx) + self.wpe(pos))                     # (B, T, C)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))                              # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(B * T, -1), targets.reshape(B * T))
        return logits, loss

    @blaze.no_grad()
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None):
        """Append ``max_new_tokens`` samples to ``idx`` (B, T), cropping the context to block_size."""
        for _ in range(max_new_tokens):
            ctx = idx[:, -self.cfg.block_size:]
            logits, _ = self(ctx)
            logits = logits[:, -1, :] / temperature                      # (B, V)
            if top_k is not None:
                kth = blaze.topk(logits, min(top_k, logits.shape[-1]))[0][:, -1:]  # (B, 1)
                logits = logits.masked_fill(logits < kth, float("-inf"))
            nxt = blaze.multinomial(F.softmax(logits, dim=-1), 1)         # (B, 1)
            idx = blaze.cat([idx, nxt], dim=1)
        return idx


def configure_optimizer(model, lr, weight_decay):
    """AdamW; decay only the matrices (weights of Linear/Embedding), as nanoGPT."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return blaze.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.99))


@blaze.no_grad()
def evaluate(model, ds, batch_size: int, batches: int, device) -> float:
    model.eval()
    n = batch_size * batches
    stride = max(1, len(ds) // n)
    idx = [i * stride for i in range(min(n, len(ds)))]
    total = 0.0
    for k in range(0, len(idx), batch_size):
        xs, ys = zip(*(ds[i] for i in idx[k:k + batch_size]))
        _, loss = model(blaze.stack(xs).to(device), blaze.stack(ys).to(device))
        total += float(loss) * len(xs)
    model.train()
    return total / len(idx)


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description="character-level GPT on Jane Austen")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="a .txt file or a directory of them (default: the Austen excerpt bundled with blaze)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--max-chars", type=int, default=None)
    ap.add_argument("--eval-batches", type=int, default=20)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--sample-len", type=int, default=300)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="save a checkpoint here (blaze.save)")
    args = ap.parse_args(argv)

    blaze.manual_seed(args.seed)
    train_ds, val_ds = split(load_text(args.data, args.max_chars), args.block)
    cfg = GPTConfig(train_ds.vocab_size, args.block, args.n_layer, args.n_head, args.n_embd, args.dropout)
    model = GPT(cfg).to(args.device)
    print(f"text: {len(train_ds.data):,} train / {len(val_ds.data):,} val characters, vocabulary {cfg.vocab_size}")
    print(f"model: {sum(p.numel() for p in model.parameters()):,} parameters (tied embedding counted once)")
    opt = configure_optimizer(model, args.lr, args.weight_decay)
    S = blaze.optim.lr_scheduler
    warm = min(args.warmup, max(1, args.steps // 2))
    sched = S.SequentialLR(opt, [S.LinearLR(opt, start_factor=0.1, total_iters=warm),
                                 S.CosineAnnealingLR(opt, T_max=max(1, args.steps - warm), eta_min=args.lr / 10)],
                           milestones=[warm])
    sampler = RandomSampler(train_ds, replacement=True, num_samples=args.steps * args.batch_size)
    loader = DataLoader(train_ds, batch_size=args.batch_size, sampler=sampler)

    t0 = time.perf_counter()
    bar = tqdm(loader, desc="train", disable=None)  # silent when stderr is not a terminal
    for x, y in bar:
        _, loss = model(x.to(args.device), y.to(args.device))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        bar.set_postfix(loss=float(loss), lr=sched.get_last_lr()[0])
    train_s = time.perf_counter() - t0
    val = evaluate(model, val_ds, args.batch_size, args.eval_batches, args.device)
    print(f"val loss {val:.4f} nats/char ({val / math.log(2):.3f} bits/char) after {args.steps} steps, "
          f"{train_s:.0f} s training")
    prompt = blaze.tensor([train_ds.encode("Elizabeth ")], device=args.device)
    out = model.generate(prompt, args.sample_len, temperature=args.temperature)
    print("--- sample (temperature %.2f) ---" % args.temperature)
    print(train_ds.decode(out[0].cpu()))
    if args.out:
        blaze.save({"model": model.state_dict(), "optim": opt.state_dict(), "sched": sched.state_dict(),
                    "itos": train_ds.itos, "config": vars(cfg), "val_loss": val}, args.out)
        print(f"saved {args.out}")
    return val


if __name__ == "__main__":
    main()
