"""Smoke tests: each example trains a few steps with tiny settings on the data bundled with blaze and finishes.

None of them may need the team's ../shared folder: test_runs_from_a_clone_without_shared runs one from a
copy of examples/ whose parent has no shared/ next to it.
"""
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import blaze

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))  # char_gpt imports its data helpers from char_lstm

TINY_LM = ["--steps", "3", "--batch-size", "4", "--block", "16", "--max-chars", "20000", "--eval-batches", "1",
           "--sample-len", "10", "--seed", "1"]


def test_char_lstm(tmp_path, capsys):
    import char_lstm
    val = char_lstm.main(TINY_LM + ["--embed", "8", "--hidden", "16", "--out", str(tmp_path / "lstm.ckpt")])
    out = capsys.readouterr().out
    # 3 steps from a uniform start: close to log(vocab) nats/char, and finite
    assert math.isfinite(val) and 1.0 < val < 6.0
    assert "val loss" in out and "Elizabeth " in out
    ck = blaze.load(tmp_path / "lstm.ckpt")
    assert "embed.weight" in ck["model"] and ck["val_loss"] == val


def test_char_gpt(tmp_path, capsys):
    import char_gpt
    val = char_gpt.main(TINY_LM + ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warmup", "1",
                                   "--out", str(tmp_path / "gpt.ckpt")])
    assert math.isfinite(val) and 1.0 < val < 6.0
    assert "val loss" in capsys.readouterr().out
    ck = blaze.load(tmp_path / "gpt.ckpt")
    sd = ck["model"]
    assert sd["lm_head.weight"] is sd["wte.weight"]  # tied weights stay one tensor through save/load
    model = char_gpt.GPT(char_gpt.GPTConfig(**ck["config"]))
    model.load_state_dict(sd)


def test_dcgan(tmp_path, capsys):
    pytest.importorskip("PIL")
    import dcgan
    out = tmp_path / "grid.png"
    loss_d, loss_g = dcgan.main(["--steps", "2", "--batch-size", "8", "--nz", "8", "--width", "4",
                                 "--out", str(out)])
    assert math.isfinite(loss_d) and math.isfinite(loss_g)
    from PIL import Image
    img = Image.open(out)
    assert img.size == (8 * 28 + 9 * 2, 8 * 28 + 9 * 2)  # make_grid: 8x8 tiles with 2-pixel padding


def test_runs_from_a_clone_without_shared(tmp_path):
    clone = tmp_path / "clone"
    shutil.copytree(EXAMPLES, clone / "examples")
    assert not (tmp_path / "shared").exists()
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES.parent), "HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "examples/char_lstm.py", *TINY_LM, "--steps", "1", "--embed", "4",
                        "--hidden", "8"], cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "austen_pride_and_prejudice_ch1-20.txt (bundled with blaze" in r.stdout and "val loss" in r.stdout


def test_missing_data_says_what_to_do(tmp_path):
    import char_lstm
    with pytest.raises(SystemExit, match="no such file or directory.*Gutenberg"):
        char_lstm.main(TINY_LM + ["--data", str(tmp_path / "novels")])
    import dcgan
    with pytest.raises(SystemExit, match="no such directory"):
        dcgan.main(["--steps", "1", "--data", str(tmp_path / "fmnist")])


def test_sentiment(capsys):
    import sentiment
    res = sentiment.main(["--limit", "400", "--epochs", "1", "--embed", "8", "--hidden", "8", "--layers", "1",
                          "--heads", "2", "--batch-size", "32"])
    out = capsys.readouterr().out
    assert "majority class" in out and "lstm: test accuracy" in out and "transformer: test accuracy" in out
    assert 0.3 < res["baseline"] < 0.7   # the kept snippets are about half positive (4,996 vs 5,076)
    for name in ("lstm", "transformer"):
        acc, wall = res[name]
        assert 0.0 <= acc <= 1.0 and wall > 0


def test_keyword_spotting(tmp_path, capsys):
    import keyword_spotting
    acc = keyword_spotting.main(["--train", "64", "--test", "32", "--epochs", "1", "--width", "4",
                                 "--save-wav", str(tmp_path)])
    assert 0.0 <= acc <= 1.0 and "test accuracy" in capsys.readouterr().out
    wave, sr = blaze.audio.load(tmp_path / "rise.wav")
    assert sr == 8000 and tuple(wave.shape) == (1, 4000) and float(wave.abs().max()) > 0.25


def test_detect_shapes(capsys):
    import detect_shapes
    m = detect_shapes.main(["--steps", "2", "--batch-size", "2", "--width", "8", "--eval-images", "3"])
    assert 0.0 <= m <= 1.0
    assert "mAP@0.5 on 3 held-out images" in capsys.readouterr().out


def test_detect_shapes_average_precision():
    import detect_shapes as d
    # two images, one class: ranked TP, FP, TP with 2 ground-truth boxes -> recall 0.5, 0.5, 1; precision 1, 1/2, 2/3
    gt = [(np.array([[0, 0, 10, 10]], np.float32), np.array([0])), (np.array([[20, 20, 30, 30]], np.float32), np.array([0]))]
    det = [(np.array([[0, 0, 10, 10], [40, 40, 50, 50]], np.float32), np.array([0.9, 0.8]), np.array([0, 0])),
           (np.array([[21, 20, 30, 30]], np.float32), np.array([0.7]), np.array([0]))]
    assert d.mean_ap(det, gt) == pytest.approx(0.5 * 1 + 0.5 * (2 / 3))
    # a duplicate detection of a matched box is a false positive; a perfect set scores 1
    assert d.mean_ap([(gt[0][0], np.array([1.0]), np.array([0])), (gt[1][0], np.array([1.0]), np.array([0]))], gt) == 1.0
    dup = [(np.concatenate([gt[0][0]] * 2), np.array([0.9, 0.8]), np.array([0, 0])), det[1]]
    assert d.mean_ap(dup, gt) == pytest.approx(0.5 + 0.5 * (2 / 3))
    img, boxes, labels = d.render(np.random.default_rng(0))
    assert img.shape == (3, 64, 64) and len(boxes) == len(labels) >= 1


def test_detect_shapes_decode_of_perfect_predictions_scores_one():
    import detect_shapes as d
    _, heat, reg, _, samples = d.batch(np.random.default_rng(3), 12, 64)
    dets = [d.decode(blaze.tensor(heat[k] * 20 - 10), blaze.tensor(reg[k]), 64) for k in range(12)]
    assert d.mean_ap(dets, [(b, lb) for _, b, lb in samples]) == 1.0
    dets[0] = (dets[0][0] + 6.0, *dets[0][1:])  # shifted boxes of one image: some IoUs drop below 0.5
    assert d.mean_ap(dets, [(b, lb) for _, b, lb in samples]) < 1.0
