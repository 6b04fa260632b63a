"""Datasets held in memory: the file formats read from disk (IDX, CIFAR pickles, ``.npz``
feature files; nothing is downloaded) and the synthetic hierarchical mixture."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import InvalidInputError
from .augment import Augmentation
from .folders import seeded_split
from .datasets import InMemoryDataset

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format), gzipped or not, as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise InvalidInputError(f"cannot read {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise InvalidInputError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise InvalidInputError(f"{path}: size does not match its IDX header {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise InvalidInputError(
        f"Fashion-MNIST file {stem}(.gz) not found in {root}; install Debian's "
        "dataset-fashion-mnist package or pass --data-path to the folder with the IDX files"
    )


def fashion_mnist(root: Path) -> InMemoryDataset:
    """Fashion-MNIST from the folder of its four IDX files."""
    arrays = {
        key: read_idx(_find(root, stem))
        for key, stem in (
            ("xtr", "train-images-idx3-ubyte"),
            ("ytr", "train-labels-idx1-ubyte"),
            ("xte", "t10k-images-idx3-ubyte"),
            ("yte", "t10k-labels-idx1-ubyte"),
        )
    }
    return InMemoryDataset(
        "fashion-mnist",
        torch.from_numpy(arrays["xtr"].copy())[:, None],
        torch.from_numpy(arrays["ytr"].astype(np.int64)),
        torch.from_numpy(arrays["xte"].copy())[:, None],
        torch.from_numpy(arrays["yte"].astype(np.int64)),
        10,
    )


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise InvalidInputError(f"CIFAR file {path} not found")
    with open(path, "rb") as f:
        try:
            return pickle.load(f, encoding="bytes")
        except Exception as e:  # a damaged or foreign file: report, do not crash
            raise InvalidInputError(f"{path} is not a CIFAR python pickle ({e})") from None


def cifar(root: Path, *, fine: bool) -> InMemoryDataset:
    """CIFAR-10 or (``fine``) CIFAR-100 from its python pickles; augmented by ``crop`` and flips."""
    folder = "cifar-100-python" if fine else "cifar-10-batches-py"
    if (root / folder).is_dir():
        root = root / folder
    label_key = b"fine_labels" if fine else b"labels"
    names = (["train"], ["test"]) if fine else ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"])

    def part(files: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batches = [_unpickle(root / f) for f in files]
        x = np.concatenate([np.asarray(b[b"data"], dtype=np.uint8) for b in batches]).reshape(-1, 3, 32, 32)
        y = np.concatenate([np.asarray(b[label_key], dtype=np.int64) for b in batches])
        return torch.from_numpy(x), torch.from_numpy(y)

    xtr, ytr = part(names[0])
    xte, yte = part(names[1])
    return InMemoryDataset("cifar100" if fine else "cifar10", xtr, ytr, xte, yte, 100 if fine else 10,
                           augmentation=Augmentation("crop", flip=True))


def features(path: Path, *, seed: int) -> InMemoryDataset:
    """A ``.npz`` with ``X`` (n, k), ``y`` (n,) and optionally ``split`` (0/1 or train/test)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise InvalidInputError(f"cannot read {path} as .npz: {e}") from None
    if "X" not in arrays or "y" not in arrays:
        raise InvalidInputError(f"{path} must hold arrays 'X' (n, k) and 'y' (n,); it has {sorted(arrays)}")
    x, y = np.asarray(arrays["X"]), np.asarray(arrays["y"])
    if x.ndim != 2 or y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise InvalidInputError(f"{path}: need X of shape (n, k) and integer y of shape (n,), got {x.shape}, {y.shape} {y.dtype}")
    if not np.isfinite(x).all():
        raise InvalidInputError(f"{path}: X contains NaN or infinite values")
    labels, y = np.unique(y, return_inverse=True)
    xt = torch.from_numpy(x.astype(np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    if "split" in arrays:
        split = np.asarray(arrays["split"])
        is_test = np.isin(split, ["test", "1", 1]) if split.dtype.kind in "USO" else split.astype(bool)
        test = torch.from_numpy(np.flatnonzero(is_test))
        train = torch.from_numpy(np.flatnonzero(~is_test))
    else:
        train, test = seeded_split(len(yt), seed)
    return InMemoryDataset("features", xt[train], yt[train], xt[test], yt[test], len(labels))


def synthetic_mixture(
    *,
    super_classes: int = 4,
    classes_per_super: int = 5,
    dim: int = 32,
    train_per_class: int = 200,
    test_per_class: int = 100,
    super_spread: float = 3.0,
    class_spread: float = 0.5,
    noise: float = 1.5,
    seed: int = 0,
) -> InMemoryDataset:
    """A hierarchical Gaussian mixture: super-classes of related classes (synthetic data).

    Super-class centres are drawn with scale ``super_spread``; each class centre lies
    ``class_spread`` around its super-class centre; samples add isotropic ``noise``. Classes
    of one super-class are therefore nearer to each other than to the rest.
    """
    g = torch.Generator().manual_seed(seed)
    c = super_classes * classes_per_super
    parents = torch.arange(c) // classes_per_super
    centres = super_spread * torch.randn(super_classes, dim, generator=g)[parents]
    centres = centres + class_spread * torch.randn(c, dim, generator=g)

    def sample(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(c).repeat_interleave(per_class)
        return centres[y] + noise * torch.randn(len(y), dim, generator=g), y

    xtr, ytr = sample(train_per_class)
    xte, yte = sample(test_per_class)
    return InMemoryDataset("synthetic", xtr, ytr, xte, yte, c, synthetic=True, super_classes=parents.tolist())


