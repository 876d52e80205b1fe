"""Functions run in child processes by the multiprocessing tests (importable, so 'spawn' can find them)."""
import os

import numpy as np

import blaze
import blaze.nn as nn
import blaze.nn.functional as F


def add_one(t, done):
    t.add_(1)
    done.put((os.getpid(), t.is_shared()))


def echo_back(inbox, outbox):
    t = inbox.get()
    t.mul_(2)  # seen by the sender: same memory
    outbox.put(t)


def raise_on_one(i, msg):
    if i == 1:
        raise ValueError(msg)


def write_rank(i, t):
    t[i] = i + 1


def make_data(n=256, seed=0):
    g = np.random.default_rng(seed)
    x = g.standard_normal((n, 8)).astype(np.float32)
    w = g.standard_normal((8, 1)).astype(np.float32)
    y = np.tanh(x @ w) + 0.01 * g.standard_normal((n, 1)).astype(np.float32)
    return blaze.from_numpy(x), blaze.from_numpy(y)


def mlp():
    blaze.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))


def hogwild_train(rank, model, steps=60):
    """One Hogwild worker: SGD on its own shard, writing straight into the shared weights."""
    x, y = make_data()
    x, y = x[rank::2], y[rank::2]
    opt = blaze.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
