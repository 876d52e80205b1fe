"""The torch alias (blaze.compat, `python -m blaze.run`): PyTorch programs import blaze under torch's names.

The names are imported with ``importlib`` through the alias (never a plain ``import torch``), so these
tests cannot pick up a real PyTorch; the PyTorch-style program they run is a text fixture
(``torch_style_script.txt``) copied to a ``.py`` file at run time.
"""
import importlib
import importlib.machinery
import os
import subprocess
import sys
import types

import pytest

import blaze
from blaze import compat

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT_TEXT = os.path.join(ROOT, "tests", "interop", "torch_style_script.txt")
ARGV_TEXT = os.path.join(ROOT, "tests", "interop", "torch_argv_script.txt")


@pytest.fixture
def alias():
    assert not compat.is_installed()
    compat.install()
    yield
    compat.uninstall()


def _pkg(name):
    m = types.ModuleType(name)
    m.__path__ = []
    m.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    return m


def test_torch_names_are_blaze_modules(alias):
    imp = importlib.import_module
    torch, nn, F = imp("torch"), imp("torch.nn"), imp("torch.nn.functional")
    SGD, MultiheadAttention = imp("torch.optim").SGD, imp("torch.nn.modules.activation").MultiheadAttention
    assert torch is blaze and nn is blaze.nn and F is blaze.nn.functional and SGD is blaze.optim.SGD
    assert MultiheadAttention is blaze.nn.MultiheadAttention
    assert isinstance(torch.ones(2), torch.Tensor) and torch.nn.parallel.DataParallel is blaze.nn.DataParallel
    assert blaze.__spec__.name == "blaze" and blaze.nn.__spec__.name == "blaze.nn"  # blaze's own specs are kept
    mp = imp("torch.multiprocessing")
    imp("torch.accelerator")
    assert mp is importlib.import_module("blaze.multiprocessing")
    with pytest.raises(ModuleNotFoundError, match=r"'torch.no_such_thing'.*'blaze.no_such_thing'"):
        imp("torch.no_such_thing")


def test_torchvision_maps_to_blaze_vision(alias, monkeypatch):
    vision, transforms = _pkg("blaze.vision"), _pkg("blaze.vision.transforms")
    vision.transforms = transforms
    monkeypatch.setitem(sys.modules, "blaze.vision", vision)
    monkeypatch.setitem(sys.modules, "blaze.vision.transforms", transforms)
    torchvision = importlib.import_module("torchvision")
    T = torchvision.transforms
    assert torchvision is vision and T is transforms
    assert importlib.import_module("torchvision.transforms") is transforms


def test_uninstall_removes_every_trace_and_real_torch_is_refused(monkeypatch):
    compat.install()
    importlib.import_module("torch.nn")
    compat.uninstall()
    assert not compat.is_installed() and "torch" not in sys.modules and "torch.nn" not in sys.modules
    assert compat._PATH_DIR not in sys.path
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))  # "the real torch", imported first
    with pytest.raises(RuntimeError, match="already imported"):
        compat.install()
    assert not compat.is_installed()


def test_cli_lists_the_torch_command(capsys):
    from blaze import cli
    assert cli.main(["--help"]) == 0
    assert "torch" in capsys.readouterr().out
    assert cli.main(["torch", "--help"]) == 0 and "python -m blaze.run" in capsys.readouterr().out
    assert compat.main([]) == 2 and compat.main([os.path.join(ROOT, "no_such_script.py")]) == 2


def test_pytorch_script_runs_unchanged_under_blaze_run(tmp_path):
    # a PyTorch program: nn, F, optim, an LR scheduler, cudnn flags and spawn-based Hogwild
    script = tmp_path / "torch_style_script.py"
    script.write_text(open(SCRIPT_TEXT).read())
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-m", "blaze.run", str(script), "--steps", "40"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    fields = dict(kv.split("=", 1) for kv in out.stdout.split() if "=" in kv)
    assert fields["alias"] == "blaze" and fields["nn"] == "blaze.nn"
    assert float(fields["after"]) < 0.25 * float(fields["first"])
    assert fields["hogwild_moved"] == "True" and fields["exitcodes"] == "0,0"


def test_stand_in_refuses_its_package_name():
    with pytest.raises(ImportError, match="only stands in"):
        importlib.import_module("blaze._alias_path.torch")
    assert not compat.is_installed()


def test_run_module_form(tmp_path, monkeypatch, capsys):
    (tmp_path / "torch_prog.py").write_text(open(ARGV_TEXT).read())   # a torch-style program
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    try:
        assert compat.main(["-m", "torch_prog", "--flag"]) == 0
    finally:
        compat.uninstall()
    assert capsys.readouterr().out.strip() == "blaze.nn ['--flag']"
