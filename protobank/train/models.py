"""Backbones that map inputs to d-dimensional features: ResNet-32, a small CNN, an MLP."""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import InvalidInputError

BACKBONES = ("resnet32", "cnn", "mlp")


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
    """A backbone for inputs of ``input_shape`` (C, H, W) or (k,), ending in ``dim`` features."""
    if name == "mlp":
        size = 1
        for n in input_shape:
            size *= n
        return nn.Sequential(nn.Flatten(), _mlp(size, dim))
    if name in ("resnet32", "cnn"):
        if len(input_shape) != 3:
            raise InvalidInputError(f"backbone {name!r} needs images; this data is vectors: use --backbone mlp")
        return ResNet32(input_shape[0], dim) if name == "resnet32" else _small_cnn(input_shape[0], dim)
    raise InvalidInputError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
