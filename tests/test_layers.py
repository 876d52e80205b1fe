"""The layer contract in pyproject.toml holds, and an upward import breaks it."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _lint(root: pathlib.Path):
    pytest.importorskip("importlinter", reason="install the test extra: pip install -e '.[test]'")
    env = dict(os.environ, PYTHONPATH=str(root))
    # the console script's module; runs the same code as `lint-imports`
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", code, "--no-cache", "--config", str(root / "pyproject.toml")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_layers_contract_is_kept():
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 kept, 0 broken" in r.stdout


def _copy(tmp_path):
    shutil.copytree(ROOT / "blaze", tmp_path / "blaze", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)


def test_an_upward_import_breaks_the_contract(tmp_path):
    _copy(tmp_path)
    reg = tmp_path / "blaze" / "kernels" / "registry.py"
    reg.write_text(reg.read_text() + "\n\ndef _bad():\n    import blaze.tuning.cache  # kernels -> tuning: upward\n")
    r = _lint(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "blaze.kernels.registry -> blaze.tuning.cache" in r.stdout


def test_a_deferred_import_back_into_the_memory_layer_breaks_the_acyclic_contract(tmp_path):
    """The memory <-> index <-> kernels.index circle (closed by deferred imports) stays removed."""
    _copy(tmp_path)
    kix = tmp_path / "blaze" / "kernels" / "index.py"
    kix.write_text(kix.read_text() + "\n\ndef _bad():\n    from blaze.devices.cuda import memory  # noqa: F401\n")
    mem = tmp_path / "blaze" / "devices" / "cuda" / "memory.py"
    mem.write_text(mem.read_text() + "\n\ndef _bad():\n    from .index import element_offsets  # noqa: F401\n")
    r = _lint(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "no cycles among the cuda device's and the kernels' modules BROKEN" in r.stdout
    assert "blaze.kernels.index -> blaze.devices.cuda.memory" in r.stdout  # and the layers contract names it
