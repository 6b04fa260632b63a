"""Backbones that map inputs to d-dimensional features: ResNet-32, a small CNN, an MLP, and
any torchvision or timm model by name (``torchvision:resnet18``, ``timm:resnet50``).

Models from torchvision and timm are built with random weights (nothing is downloaded) and
their classifier is replaced by a linear projection to d features: the fixed prototypes take
the classifier's place.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import InvalidInputError, did_you_mean

BACKBONES = ("resnet32", "cnn", "mlp")
LIBRARIES = ("torchvision", "timm")  # --backbone LIBRARY:NAME


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = nn.functional.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return nn.functional.relu(out + self.shortcut(x))


class ResNet32(nn.Module):
    """The CIFAR ResNet-32 (He et al. 2016: 3 stages of 5 basic blocks, 16/32/64 channels)."""

    def __init__(self, in_channels: int, dim: int, blocks_per_stage: int = 5) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers: list[nn.Module] = []
        cin = 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for b in range(blocks_per_stage):
                layers.append(_BasicBlock(cin, cout, stride if b == 0 else 1))
                cin = cout
        self.stages = nn.Sequential(*layers)
        self.fc = nn.Linear(64, dim)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stages(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))


def _small_cnn(in_channels: int, dim: int) -> nn.Module:
    """Two conv blocks and a linear projection: fast enough for CPU runs on 28x28 or 32x32."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(128, dim),
    )  # fmt: skip


def _mlp(in_features: int, dim: int, hidden: int = 256) -> nn.Module:
    return nn.Sequential(
        nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
        nn.Linear(hidden, dim),
    )  # fmt: skip


def build_backbone(name: str, input_shape: tuple[int, ...], dim: int) -> nn.Module:
    """A backbone for inputs of ``input_shape`` (C, H, W) or (k,), ending in ``dim`` features.

    ``name`` is one of :data:`BACKBONES`, or ``torchvision:NAME`` / ``timm:NAME`` for a model of
    that library (which must be installed; neither is a dependency of protobank).
    """
    library, _, model = name.partition(":")
    if model:
        if library not in LIBRARIES:
            raise InvalidInputError(f"unknown backbone library {library!r} in {name!r}; use torchvision:NAME or timm:NAME")
        module = _import(library)
        if len(input_shape) != 3:
            raise InvalidInputError(f"backbone {name!r} needs images; this data is vectors: use --backbone mlp")
        build = _torchvision if library == "torchvision" else _timm
        net = build(module, model, input_shape[0], dim)
        _check_output(net, name, input_shape, dim)
        return net
    if name == "mlp":
        size = 1
        for n in input_shape:
            size *= n
        return nn.Sequential(nn.Flatten(), _mlp(size, dim))
    if name in ("resnet32", "cnn"):
        if len(input_shape) != 3:
            raise InvalidInputError(f"backbone {name!r} needs images; this data is vectors: use --backbone mlp")
        return ResNet32(input_shape[0], dim) if name == "resnet32" else _small_cnn(input_shape[0], dim)
    raise InvalidInputError(
        f"unknown backbone {name!r}.{did_you_mean(name, BACKBONES)} Choose one of {', '.join(BACKBONES)}, "
        "torchvision:NAME or timm:NAME"
    )


def _import(library: str) -> Any:
    """The library's module, or a one-line hint on how to get it."""
    if importlib.util.find_spec(library) is None:
        raise InvalidInputError(f"--backbone {library}:... needs {library}, which is not installed: pip install {library}")
    try:
        return importlib.import_module(library)
    except Exception as e:  # e.g. a torchvision built for another torch fails with RuntimeError
        raise InvalidInputError(f"{library} is installed but cannot be imported ({_first_line(e)}); install the build that matches torch {torch.__version__}") from None


def _torchvision(torchvision: Any, model: str, channels: int, dim: int) -> nn.Module:
    """``torchvision.models.get_model(model)`` with random weights and ``dim`` outputs in place
    of the classes (its last linear layer becomes the projection)."""
    models = torchvision.models
    names = models.list_models()
    if model not in names:
        raise InvalidInputError(f"torchvision has no model {model!r}.{did_you_mean(model, names)}")
    net = models.get_model(model, weights=None, num_classes=dim)
    return net if channels == 3 else nn.Sequential(_AsRGB(), net)


def _timm(timm: Any, model: str, channels: int, dim: int) -> nn.Module:
    """``timm.create_model(model)`` with random weights, ``channels`` input channels and a
    ``dim``-wide classifier as the projection."""
    if not timm.is_model(model):
        raise InvalidInputError(f"timm has no model {model!r}.{did_you_mean(model, timm.list_models())}")
    return timm.create_model(model, pretrained=False, num_classes=dim, in_chans=channels)


class _AsRGB(nn.Module):
    """Grey images as three equal channels, for torchvision models built for RGB."""

    def forward(self, x: Tensor) -> Tensor:
        return x.expand(-1, 3, -1, -1)


@torch.no_grad()
def _check_output(net: nn.Module, name: str, input_shape: tuple[int, ...], dim: int) -> None:
    """One forward pass on a blank input: a model that cannot take this image size (e.g. a ViT
    built for 224 px) fails here with one line instead of mid-training."""
    net.eval()
    try:
        out = net(torch.zeros(1, *input_shape))
    except Exception as e:
        raise InvalidInputError(f"backbone {name!r} does not take {'x'.join(map(str, input_shape))} inputs ({_first_line(e)}); try another --image-size") from None
    finally:
        net.train()
    if tuple(out.shape) != (1, dim):
        raise InvalidInputError(f"backbone {name!r} gives outputs of shape {tuple(out.shape)[1:]}, not ({dim},): it has no classifier to replace")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
