"""Backbones from torchvision and timm by name: built with d outputs, trained end to end from
the CLI where the library is installed; one-line hints where it is not."""

from __future__ import annotations

import importlib
import importlib.util
import json

import numpy as np
import pytest
import torch

from protobank.errors import InvalidInputError
from protobank.train.models import build_backbone


def _importable(name: str) -> bool:
    if importlib.util.find_spec(name) is None:
        return False
    try:
        importlib.import_module(name)
    except Exception:  # installed for another torch build
        return False
    return True


needs_torchvision = pytest.mark.skipif(not _importable("torchvision"), reason="torchvision is not importable here")
needs_timm = pytest.mark.skipif(not _importable("timm"), reason="timm is not importable here")


def _image_folder(root, rng):
    from PIL import Image

    for k, cls in enumerate(("ant", "bee")):
        (root / cls).mkdir(parents=True)
        for i in range(10):
            Image.fromarray((rng.random((36, 36, 3)) * 120 + 100 * k).astype(np.uint8)).save(root / cls / f"{i}.png")
    return root


@needs_torchvision
def test_torchvision_resnet18_trains_from_the_cli(tmp_path, run_cli):
    data = _image_folder(tmp_path / "images", np.random.default_rng(0))
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        "train", "--data", "imagefolder", "--data-path", str(data), "--image-size", "32", "--workers", "0",
        "--backbone", "torchvision:resnet18", "--dim", "8", "--epochs", "1", "--batch-size", "16",
        "--out", str(out), "--json", "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads(stdout)
    assert metrics["backbone"] == "torchvision:resnet18" and metrics["history"][0]["epoch"] == 1
    state = torch.load(out / "checkpoint.pt", weights_only=True)["model"]
    assert state["backbone.fc.weight"].shape == (8, 512)  # the classifier became the d-dim projection


@needs_torchvision
def test_torchvision_models_fit_the_input():
    grey = build_backbone("torchvision:resnet18", (1, 28, 28), 6)  # Fashion-MNIST-like input
    assert grey(torch.zeros(2, 1, 28, 28)).shape == (2, 6)
    with pytest.raises(InvalidInputError, match="does not take 3x32x32 inputs"):
        build_backbone("torchvision:vit_b_16", (3, 32, 32), 6)  # built for 224 px
    with pytest.raises(InvalidInputError, match="Did you mean 'resnet18'"):
        build_backbone("torchvision:resnet81", (3, 32, 32), 6)
    with pytest.raises(InvalidInputError, match="needs images"):
        build_backbone("torchvision:resnet18", (12,), 6)


@needs_timm
def test_timm_backbone_has_d_outputs():
    net = build_backbone("timm:resnet18", (1, 32, 32), 5)
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 5)
    with pytest.raises(InvalidInputError, match="timm has no model"):
        build_backbone("timm:resnet-eighteen", (3, 32, 32), 5)


@pytest.mark.parametrize("library", ["torchvision", "timm"])
def test_missing_library_is_a_one_line_hint(library, monkeypatch, tmp_path, run_cli):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == library else real(name, *a))
    code, _, err = run_cli("train", "--backbone", f"{library}:resnet18", "--out", str(tmp_path / "r"))
    assert code == 1 and f"pip install {library}" in err and "Traceback" not in err


def test_broken_install_and_bad_specs_are_clear(monkeypatch):
    real_spec, real_import = importlib.util.find_spec, importlib.import_module

    def broken(name, *args):
        if name == "torchvision":
            raise RuntimeError("operator torchvision::nms does not exist")
        return real_import(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "torchvision" else real_spec(name, *a))
    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(InvalidInputError, match=r"installed but cannot be imported \(operator torchvision::nms"):
        build_backbone("torchvision:resnet18", (3, 32, 32), 4)
    with pytest.raises(InvalidInputError, match="use torchvision:NAME or timm:NAME"):
        build_backbone("keras:resnet18", (3, 32, 32), 4)
