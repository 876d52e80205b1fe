"""Shared paths for the blaze.data tests: the real data lives in ../shared/data (see its README)."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "fashion-mnist").is_dir():
        pytest.skip(f"the real data folder {SHARED_DATA} is not present on this machine")
    return SHARED_DATA
