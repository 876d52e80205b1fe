"""The demo end to end on a few hundred images (the full run is ~2 minutes; this is seconds), and its progress bar."""
import io

import numpy as np
from PIL import Image

from blaze.utils import progress


def test_progress_bar_counts_and_postfix():
    out = io.StringIO()
    bar = progress(range(20), desc="epoch 1", file=out)
    for _ in bar:
        bar.set_postfix(loss=0.123456)
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("epoch 1  [") and "20/20" in lines[-1] and "loss=0.1235" in lines[-1]
    assert len(lines) <= 11  # not a tty: one line per 10% plus the final one


def test_demo_trains_and_draws(tmp_path, capsys):
    from blaze.demo import main

    out = tmp_path / "pred.png"
    assert main(["--epochs", "1", "--limit-train", "640", "--limit-test", "200", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    acc = float(text.split("test accuracy: ")[1].split("%")[0]) / 100
    assert acc > 0.4  # 10 batches of 64 already beat chance (0.1) by far
    img = np.asarray(Image.open(out))
    assert img.ndim == 3 and img.shape[2] == 3 and img.shape[0] > 100
