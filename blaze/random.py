"""Random number generation: a seeded default generator that every random op draws from.

Each ``blaze.Generator`` owns a NumPy ``Generator`` (PCG64) for CPU draws and a Philox
(seed, offset) pair for device kernels, so ``blaze.manual_seed`` makes CPU and GPU random
ops reproducible.
"""
from __future__ import annotations

import numpy as np

_DEFAULT_SEED = 67280421310721


class Generator:
    """A source of random numbers, like ``torch.Generator``.

    Example::

        g = blaze.Generator().manual_seed(0)
        x = blaze.rand(3, generator=g)
    """

    def __init__(self, device="cpu"):
        self.device = device
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed: int) -> "Generator":
        seed = int(seed)
        if seed < 0:
            seed &= (1 << 64) - 1
        self._seed = seed
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.philox_offset = 0  # advanced by device kernels that draw (seed, offset) streams
        return self

    def seed(self) -> int:
        """Seed from the OS's entropy and return the seed."""
        s = int(np.random.SeedSequence().entropy) & ((1 << 63) - 1)
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self):
        return {"seed": self._seed, "rng": self.rng.bit_generator.state, "philox_offset": self.philox_offset}

    def set_state(self, state) -> "Generator":
        self._seed = state["seed"]
        self.rng = np.random.Generator(np.random.PCG64())
        self.rng.bit_generator.state = state["rng"]
        self.philox_offset = state["philox_offset"]
        return self

    def philox(self, increment: int) -> tuple[int, int]:
        """A (seed, offset) pair for a device kernel drawing ``increment`` numbers per element slot."""
        off = self.philox_offset
        self.philox_offset += (increment + 3) // 4 * 4
        return self._seed & 0x7FFFFFFF, off


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed every random op (CPU and device) reproducibly; returns the default generator."""
    default_generator.manual_seed(seed)
    return default_generator


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state) -> None:
    default_generator.set_state(state)


def numpy_rng(generator: Generator | None = None) -> np.random.Generator:
    """The NumPy generator behind ``generator`` (the default generator when None)."""
    return (generator or default_generator).rng
