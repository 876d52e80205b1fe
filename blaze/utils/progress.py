"""A tiny text progress bar (a dependency-free stand-in for tqdm).

On a terminal it redraws one line at most 10 times a second; in a log file (not a tty) it
writes a line at every 10% so CI logs stay short.
"""
from __future__ import annotations

import sys
import time


class ProgressBar:
    """Wrap an iterable and show ``desc [=====>    ] 12/157  3.2 it/s  loss=0.53``.

    Example::

        for x, y in (bar := progress(loader, desc="epoch 1")):
            bar.set_postfix(loss=f"{loss:.3f}")
    """

    def __init__(self, iterable=None, total: int | None = None, desc: str = "", width: int = 30, file=None):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.desc, self.width = total, desc, width
        self.file = file if file is not None else sys.stderr
        self.n = 0
        self.postfix = ""
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._last_decile = -1
        self._tty = bool(getattr(self.file, "isatty", lambda: False)())

    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self):
        return self.total

    def set_postfix(self, **values) -> None:
        """Show ``key=value`` pairs after the counter (floats get 4 significant digits)."""
        self.postfix = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if self._tty:
            if now - self._last_draw >= 0.1 or self.n == self.total:  # <= 10 redraws per second
                self._last_draw = now
                self.file.write("\r" + self.line() + "\033[K")
                self.file.flush()
        elif self.total:
            decile = 10 * self.n // self.total
            if decile != self._last_decile and decile < 10:
                self._last_decile = decile
                self.file.write(self.line() + "\n")
                self.file.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = f"{self.n / elapsed:.1f} it/s"
        if self.total:
            frac = min(self.n / self.total, 1.0)
            filled = int(frac * self.width)
            bar = "=" * filled + (">" if filled < self.width else "") + " " * (self.width - filled - 1)
            core = f"[{bar}] {self.n}/{self.total}"
        else:
            core = f"{self.n}"
        parts = [p for p in (self.desc, core, rate, f"{elapsed:.1f}s", self.postfix) if p]
        return "  ".join(parts)

    def close(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        self.file.write(("\r" + self.line() + "\033[K\n") if self._tty else self.line() + "\n")
        self.file.flush()


def progress(iterable=None, total: int | None = None, desc: str = "", **kwargs) -> ProgressBar:
    """``ProgressBar(iterable, total, desc)``: iterate it to draw the bar."""
    return ProgressBar(iterable, total=total, desc=desc, **kwargs)
