"""The weights path: download from a local HTTP server, SHA-256 check (name prefix or full), cache, load_state_dict."""
import hashlib

import numpy as np
import pytest

import blaze
from blaze.utils.download import ChecksumError
from blaze.vision import models as M


@pytest.fixture
def published(http_server, tmp_path, monkeypatch):
    """mobilenet_v3_small's state dict (random init) as a PyTorch-format .pth served at a name with its hash prefix."""
    monkeypatch.setenv("BLAZE_CACHE_DIR", str(tmp_path / "cache"))
    blaze.manual_seed(3)
    source = M.mobilenet_v3_small()
    path = tmp_path / "src.pth"
    blaze.save(source.state_dict(), path)  # .pth: PyTorch's zip format, as on download.pytorch.org
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    name = f"mobilenet_v3_small-{digest[:8]}.pth"
    http_server.files["/models/" + name] = data
    weights = M.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    monkeypatch.setattr(weights.value, "url", f"{http_server.url}/models/{name}")
    return source, weights, name, digest


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k].numpy(), sb[k].numpy()) for k in sa)


def test_download_verify_cache_load(published, http_server, tmp_path):
    source, weights, name, _ = published
    model = M.mobilenet_v3_small(weights=weights)
    assert _same(model, source)
    cached = tmp_path / "cache" / "hub" / "checkpoints" / name
    assert cached.is_file() and not list(cached.parent.glob("*.unverified*"))
    requests = len(http_server.log)
    again = M.get_model("mobilenet_v3_small", weights="DEFAULT")  # from the cache: no new request
    assert len(http_server.log) == requests and _same(again, source)


def test_pretrained_true_uses_the_default_weights(published):
    source = published[0]
    with pytest.warns(UserWarning, match="weights=MobileNet_V3_Small_Weights.IMAGENET1K_V1"):
        model = M.mobilenet_v3_small(pretrained=True)
    assert _same(model, source)


def test_hash_prefix_mismatch_keeps_nothing(published, http_server, tmp_path, monkeypatch):
    _, weights, name, _ = published
    wrong = "mobilenet_v3_small-00000000.pth"
    http_server.files["/models/" + wrong] = http_server.files["/models/" + name]
    monkeypatch.setattr(weights.value, "url", f"{http_server.url}/models/{wrong}")
    with pytest.raises(ChecksumError, match="does not start with '00000000'"):
        M.mobilenet_v3_small(weights=weights)
    folder = tmp_path / "cache" / "hub" / "checkpoints"
    assert list(folder.iterdir()) == []


def test_full_sha256_is_checked_when_recorded(published, tmp_path, monkeypatch):
    _, weights, name, digest = published
    monkeypatch.setattr(weights.value, "sha256", "0" * 64)
    with pytest.raises(ChecksumError):
        M.mobilenet_v3_small(weights=weights)
    assert not (tmp_path / "cache" / "hub" / "checkpoints" / name).exists()
    monkeypatch.setattr(weights.value, "sha256", digest)
    assert M.mobilenet_v3_small(weights=weights) is not None


def test_load_state_dict_from_url_arguments(published, http_server, tmp_path):
    source, weights, name, _ = published
    sd = M.load_state_dict_from_url(weights.url, model_dir=tmp_path / "elsewhere", file_name="x.pth")
    assert (tmp_path / "elsewhere" / "x.pth").is_file() and set(sd) == set(source.state_dict())
    with pytest.raises(ValueError, match="no '-<sha256 prefix>.'"):
        M.load_state_dict_from_url(f"{http_server.url}/models/plain.pth", model_dir=tmp_path, check_hash=True)
    with pytest.raises(ValueError, match="only http and https"):
        M.load_state_dict_from_url("file:///etc/passwd", model_dir=tmp_path)


def test_wrong_architecture_checkpoint_is_refused(published, http_server, monkeypatch):
    """A file whose keys do not fit the model fails load_state_dict loudly (strict), not silently."""
    _, _, name, _ = published
    w = M.ResNet18_Weights.IMAGENET1K_V1
    monkeypatch.setattr(w.value, "url", f"{http_server.url}/models/{name}")
    with pytest.raises((RuntimeError, KeyError), match="conv1|features|Missing|Unexpected"):
        M.resnet18(weights=w)
