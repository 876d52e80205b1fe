"""Each test gets its own empty BLAZE_CACHE_DIR, and the cache module forgets what it read."""
import pytest

pytest.importorskip("triton", reason="Triton is not installed")


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    from blaze.tuning import cache
    from blaze.kernels import registry
    d = tmp_path / "cache"
    monkeypatch.setenv("BLAZE_CACHE_DIR", str(d))
    monkeypatch.delenv("BLAZE_AUTOTUNE", raising=False)
    cache.reset()
    registry._recorder = None
    yield d
    cache.reset()
    registry._recorder = None
