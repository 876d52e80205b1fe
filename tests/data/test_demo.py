"""The demo end to end on a few hundred images (the full run is ~2 minutes; this is seconds), and its progress bar."""
import io

import numpy as np
from PIL import Image


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_demo_bar_is_tqdm_and_quiet_off_a_terminal(monkeypatch, capsys):
    """The epoch bar is tqdm's (disable=None): drawn on a terminal, silent in a log or a pipe."""
    from blaze.demo import train_epoch
    from blaze.utils.data import DataLoader, TensorDataset
    import blaze

    blaze.manual_seed(0)
    model = blaze.nn.Linear(4, 3)
    loader = DataLoader(TensorDataset(blaze.randn(40, 4), blaze.randint(0, 3, (40,))), batch_size=8)
    opt = blaze.optim.SGD(model.parameters(), lr=0.1)
    train_epoch(model, loader, opt, "cpu", "epoch 1")
    assert capsys.readouterr().err == ""                                 # captured stderr is not a tty
    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    loss = train_epoch(model, loader, opt, "cpu", "epoch 2")
    final = term.getvalue().split("\r")[-1]
    assert final.startswith("epoch 2: 100%") and "5/5" in final and f"loss={loss:.4g}" in final


def test_demo_trains_and_draws(tmp_path, capsys):
    from blaze.demo import main

    out = tmp_path / "pred.png"
    assert main(["--epochs", "1", "--limit-train", "640", "--limit-test", "200", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    acc = float(text.split("test accuracy: ")[1].split("%")[0]) / 100
    assert acc > 0.4  # 10 batches of 64 already beat chance (0.1) by far
    img = np.asarray(Image.open(out))
    assert img.ndim == 3 and img.shape[2] == 3 and img.shape[0] > 100
