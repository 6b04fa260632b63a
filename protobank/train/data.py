"""Datasets by name (read from local files, never downloaded), their augmentation, and
long-tail subsampling: the entry point of the data side of training.

The parts live in their own modules: the :class:`Dataset` interface and its two kinds
(:mod:`.datasets`), the in-memory formats (:mod:`.sources`), image-folder layouts
(:mod:`.folders`) and pixels (:mod:`.images`), augmentation recipes (:mod:`.augment`) and
batching (:mod:`.batching`). ``__all__`` below is the data side's public surface, importable
from here whichever part defines it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from ..errors import InvalidInputError, did_you_mean
from .augment import AUTO, RECIPES, Augmentation, augment_batch, folder_default, resolve
from .batching import Normalizer, epoch_batches, steps_per_epoch
from .datasets import Dataset, ImageFolder, InMemoryDataset
from .folders import read_folder
from .images import BACKENDS, default_backend
from .sources import FASHION_MNIST_DIR, cifar, fashion_mnist, features, read_idx, synthetic_mixture

__all__ = [
    "DATASETS", "FASHION_MNIST_DIR", "Augmentation", "Dataset", "ImageFolder", "InMemoryDataset", "Normalizer",
    "augment_batch", "epoch_batches", "image_folder", "load_dataset", "long_tail", "read_idx", "steps_per_epoch",
    "synthetic_mixture",
]  # fmt: skip

DATASETS = ("fashion-mnist", "cifar10", "cifar100", "imagefolder", "features", "synthetic")


def load_dataset(
    name: str, path: str | Path | None = None, *, seed: int = 0, image_size: int = 32, workers: int = 4,
    backend: str | None = None, augment: str | None = AUTO, flip: bool | None = None,
) -> Dataset:  # fmt: skip
    """Read dataset ``name`` from ``path`` (see the CLI's ``--data`` help for the layouts).

    ``image_size``, ``workers`` and ``backend`` (``torchvision`` or ``pillow``; default: the
    first installed) apply to ``imagefolder``, the one dataset streamed from disk.
    ``augment`` (``crop``, ``resized-crop``, ``none``; ``auto``: the data's default) and
    ``flip`` (None: the default's) choose the training augmentation of image data; the
    dataset's ``augmentation`` holds what was resolved.
    """
    if name not in DATASETS:
        raise InvalidInputError(f"unknown dataset {name!r}.{did_you_mean(name, DATASETS)} Choose one of {', '.join(DATASETS)}")
    if image_size < 8:
        raise InvalidInputError(f"--image-size must be at least 8 pixels, got {image_size}")
    if workers < 0:
        raise InvalidInputError(f"--workers must be 0 (load in this process) or more, got {workers}")
    if backend is not None and backend not in BACKENDS:
        raise InvalidInputError(f"image backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if augment not in (None, AUTO, *RECIPES):
        raise InvalidInputError(f"--augment must be one of {', '.join((AUTO, *RECIPES))}, got {augment!r}")
    data = _read(name, path, seed=seed, image_size=image_size, workers=workers, backend=backend)
    chosen = resolve(augment, flip, data.augmentation)
    if chosen.active and not data.is_image:
        raise InvalidInputError(f"--augment {chosen.recipe}{' --flip' if chosen.flip else ''} applies to images; {name} holds feature vectors")
    return replace(data, augmentation=chosen)  # type: ignore[type-var]


def _read(name: str, path: str | Path | None, *, seed: int, image_size: int, workers: int, backend: str | None) -> Dataset:
    """Dataset ``name`` with its default augmentation."""
    if name == "synthetic":
        return synthetic_mixture(seed=seed)
    if name == "fashion-mnist":
        return fashion_mnist(Path(path) if path else FASHION_MNIST_DIR)
    if path is None:
        raise InvalidInputError(f"--data {name} needs --data-path")
    root = Path(path)
    if not root.exists():
        raise InvalidInputError(f"data path {root} does not exist")
    if name in ("cifar10", "cifar100"):
        return cifar(root, fine=name == "cifar100")
    if name == "imagefolder":
        return image_folder(root, seed=seed, image_size=image_size, workers=workers, backend=backend or default_backend())
    return features(root, seed=seed)


def image_folder(
    root: Path, *, seed: int, image_size: int, workers: int, backend: str, augmentation: Augmentation | None = None
) -> ImageFolder:
    """The image folder ``root`` (layouts: :mod:`protobank.train.folders`) as an index only;
    images are decoded when their batch is read. ``augmentation`` None: the default for
    ``image_size``."""
    if backend == "torchvision" and default_backend() != "torchvision":
        raise InvalidInputError("the torchvision image backend needs an importable torchvision: pip install torchvision")
    if not root.is_dir():
        raise InvalidInputError(f"{root} is not a folder: --data imagefolder reads a folder of class folders")
    index = read_folder(root, seed=seed)
    return ImageFolder(
        "imagefolder", index.train_root, index.train_files, index.y_train, index.test_root, index.test_files, index.y_test,
        len(index.classes), image_size=image_size, workers=workers, backend=backend,
        augmentation=augmentation or folder_default(image_size),
    )  # fmt: skip


def long_tail(data: Dataset, rho: float, *, seed: int) -> Dataset:
    """Keep ``n_max * rho^(i / (c - 1))`` training samples of class i (Cui et al. 2019 profile)."""
    if not 0 < rho <= 1:
        raise InvalidInputError(f"--imbalance must be in (0, 1], got {rho}")
    counts = data.class_counts()
    n_max = int(counts.max())
    g = torch.Generator().manual_seed(seed)
    keep = []
    for i in range(data.num_classes):
        idx = torch.nonzero(data.y_train == i)[:, 0]
        n = min(len(idx), max(1, int(n_max * rho ** (i / (data.num_classes - 1)))))
        keep.append(idx[torch.randperm(len(idx), generator=g)[:n]])
    return data.with_train_subset(torch.cat(keep).sort().values, f"{data.name}-LT{rho:g}")
