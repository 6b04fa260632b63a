"""Datasets read from local files (never downloaded), long-tail subsampling and batching.

Every dataset answers the Trainer through one interface, :class:`Dataset`: ``train_batches``
(this rank's share of each global batch of an epoch) and ``test_batches``, both yielding
stored inputs on the CPU, and ``normalizer()``, which turns them into model inputs on any
device. Small sets live in memory (:class:`InMemoryDataset`: images as uint8 (N, C, H, W),
feature vectors as float32 (N, k)); image folders stream from disk (:class:`ImageFolder`).
Labels are int64 in ``0..c-1``.
"""

from __future__ import annotations

import gzip
import pickle
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..errors import InvalidInputError, did_you_mean
from .images import BACKENDS, IMAGENET_MEAN, IMAGENET_STD, ImageFiles, default_backend, scan_classes, stream

DATASETS = ("fashion-mnist", "cifar10", "cifar100", "imagefolder", "features", "synthetic")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

Batch = tuple[torch.Tensor, torch.Tensor]  # stored inputs, labels


class Dataset(ABC):
    """A train/test split, read by the Trainer in batches only."""

    name: str
    y_train: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    synthetic: bool
    super_classes: list[int] | None  # class -> super-class, for synthetic data

    @property
    @abstractmethod
    def input_shape(self) -> tuple[int, ...]:
        """One model input's shape: (C, H, W) or (k,)."""

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.y_train.numpy(), minlength=self.num_classes)

    @abstractmethod
    def normalizer(self) -> Normalizer:
        """What turns a stored batch into float model inputs."""

    @abstractmethod
    def train_batches(
        self, batch_size: int, *, seed: int, epoch: int, rank: int = 0, world: int = 1, augment: bool = True
    ) -> Iterator[Batch]:
        """The full global batches of one epoch (a shuffle seeded by (seed, epoch)), each cut
        to this rank's share: positions rank, rank + world, ... The union over ranks is the
        one-process batch, augmentation included, so a checkpoint resumes on any world size.
        ``augment=False`` gives the test-time view of the same images."""

    @abstractmethod
    def test_batches(self, batch_size: int, *, rank: int = 0, world: int = 1) -> Iterator[Batch]:
        """The test split in order, batch k going to rank k mod world."""

    @abstractmethod
    def with_train_subset(self, keep: torch.Tensor, name: str) -> Dataset:
        """The same data with only the training samples ``keep``."""


@dataclass
class InMemoryDataset(Dataset):
    """A train/test split held in memory as tensors."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    augment: bool = False  # random crop with padding and horizontal flip (CIFAR)
    synthetic: bool = False
    super_classes: list[int] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def normalizer(self) -> Normalizer:
        return Normalizer.fit(self.x_train)

    def train_batches(
        self, batch_size: int, *, seed: int, epoch: int, rank: int = 0, world: int = 1, augment: bool = True
    ) -> Iterator[Batch]:
        crops = torch.Generator().manual_seed(seed * 7919 + epoch)
        for batch in epoch_batches(len(self.y_train), batch_size, seed=seed, epoch=epoch):
            mine = batch[rank::world]
            if augment and self.augment:  # drawn for the global batch, then split
                x = augment_batch(self.x_train[batch], crops)[rank::world]
            else:
                x = self.x_train[mine]
            yield x, self.y_train[mine]

    def test_batches(self, batch_size: int, *, rank: int = 0, world: int = 1) -> Iterator[Batch]:
        for start in range(rank * batch_size, len(self.y_test), batch_size * world):
            yield self.x_test[start : start + batch_size], self.y_test[start : start + batch_size]

    def with_train_subset(self, keep: torch.Tensor, name: str) -> InMemoryDataset:
        return replace(self, name=name, x_train=self.x_train[keep], y_train=self.y_train[keep])


@dataclass
class ImageFolder(Dataset):
    """An image folder streamed from disk: only paths and labels are held in memory.

    Batches are decoded by ``workers`` DataLoader processes (0: in this process) into uint8
    (3, ``image_size``, ``image_size``) images, a random-resized crop and flip for training,
    the centre crop for testing; see :mod:`protobank.train.images`.
    """

    name: str
    train_root: Path
    train_files: np.ndarray  # paths relative to train_root, as bytes
    y_train: torch.Tensor
    test_root: Path
    test_files: np.ndarray
    y_test: torch.Tensor
    num_classes: int
    image_size: int = 32
    workers: int = 4
    backend: str = "pillow"
    synthetic: bool = False
    super_classes: list[int] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (3, self.image_size, self.image_size)

    def normalizer(self) -> Normalizer:
        return Normalizer(torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), image=True)

    def train_batches(
        self, batch_size: int, *, seed: int, epoch: int, rank: int = 0, world: int = 1, augment: bool = True
    ) -> Iterator[Batch]:
        files = ImageFiles(self.train_root, self.train_files, self.y_train, self.image_size, self.backend,
                           seed=seed if augment else None, epoch=epoch)  # fmt: skip
        batches = (b.tolist() for b in epoch_batches(len(self.y_train), batch_size, seed=seed, epoch=epoch, rank=rank, world=world))
        return stream(files, batches, self.workers)

    def test_batches(self, batch_size: int, *, rank: int = 0, world: int = 1) -> Iterator[Batch]:
        n = len(self.y_test)
        files = ImageFiles(self.test_root, self.test_files, self.y_test, self.image_size, self.backend)
        batches = (list(range(s, min(s + batch_size, n))) for s in range(rank * batch_size, n, batch_size * world))
        return stream(files, batches, self.workers)

    def with_train_subset(self, keep: torch.Tensor, name: str) -> ImageFolder:
        return replace(self, name=name, train_files=self.train_files[keep.numpy()], y_train=self.y_train[keep])


def load_dataset(
    name: str, path: str | Path | None = None, *, seed: int = 0, image_size: int = 32, workers: int = 4,
    backend: str | None = None,
) -> Dataset:  # fmt: skip
    """Read dataset ``name`` from ``path`` (see the CLI's ``--data`` help for the layouts).

    ``image_size``, ``workers`` and ``backend`` (``torchvision`` or ``pillow``; default: the
    first installed) apply to ``imagefolder``, the one dataset streamed from disk.
    """
    if name not in DATASETS:
        raise InvalidInputError(f"unknown dataset {name!r}.{did_you_mean(name, DATASETS)} Choose one of {', '.join(DATASETS)}")
    if image_size < 8:
        raise InvalidInputError(f"--image-size must be at least 8 pixels, got {image_size}")
    if workers < 0:
        raise InvalidInputError(f"--workers must be 0 (load in this process) or more, got {workers}")
    if backend is not None and backend not in BACKENDS:
        raise InvalidInputError(f"image backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if name == "synthetic":
        return synthetic_mixture(seed=seed)
    if name == "fashion-mnist":
        return _fashion_mnist(Path(path) if path else FASHION_MNIST_DIR)
    if path is None:
        raise InvalidInputError(f"--data {name} needs --data-path")
    root = Path(path)
    if not root.exists():
        raise InvalidInputError(f"data path {root} does not exist")
    if name in ("cifar10", "cifar100"):
        return _cifar(root, fine=name == "cifar100")
    if name == "imagefolder":
        return image_folder(root, seed=seed, image_size=image_size, workers=workers, backend=backend or default_backend())
    return _features(root, seed=seed)


# -- file formats -----------------------------------------------------------------------------


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


def _fashion_mnist(root: Path) -> Dataset:
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


def _cifar(root: Path, *, fine: bool) -> Dataset:
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
    return InMemoryDataset("cifar100" if fine else "cifar10", xtr, ytr, xte, yte, 100 if fine else 10, augment=True)


def image_folder(root: Path, *, seed: int, image_size: int, workers: int, backend: str) -> ImageFolder:
    """``root/<class>/<image>`` (split 80/20 by seed) or ``root/train/<class>`` + ``root/test/<class>``:
    the file index only; images are decoded when their batch is read."""
    if backend == "torchvision" and default_backend() != "torchvision":
        raise InvalidInputError("the torchvision image backend needs an importable torchvision: pip install torchvision")

    def classes_in(folder: Path) -> list[str]:
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = classes_in(root / "train")
        train_root, test_root = root / "train", root / "test"
        train_files, y_train = scan_classes(train_root, classes)
        test_files, y_test = scan_classes(test_root, classes)
        if not len(train_files) or not len(test_files):
            raise InvalidInputError(f"no images found under {root}/train and {root}/test")
    else:
        classes = classes_in(root)
        files, labels = scan_classes(root, classes)
        if len(classes) < 2 or not len(files):
            raise InvalidInputError(f"{root} needs one sub-folder of images per class (at least 2)")
        train, test = _split(len(labels), seed)
        train_root = test_root = root
        train_files, y_train, test_files, y_test = files[train.numpy()], labels[train], files[test.numpy()], labels[test]
    return ImageFolder("imagefolder", train_root, train_files, y_train, test_root, test_files, y_test, len(classes),
                       image_size=image_size, workers=workers, backend=backend)  # fmt: skip


def _split(n: int, seed: int, test_share: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(n * test_share)))
    return order[n_test:], order[:n_test]


def _features(path: Path, *, seed: int) -> Dataset:
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
        train, test = _split(len(yt), seed)
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
) -> Dataset:
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


# -- batching ---------------------------------------------------------------------------------


class Normalizer:
    """Turns stored inputs into float model inputs: uint8 images scaled to [0, 1], then
    everything standardised by ``mean`` and ``std`` (per channel for images)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, *, image: bool) -> None:
        self.mean, self.std, self.image = mean, std, image

    @classmethod
    def fit(cls, x_train: torch.Tensor) -> Normalizer:
        """The statistics of the training inputs themselves."""
        if x_train.ndim == 4:
            x = x_train.float() / 255.0
            return cls(x.mean(dim=(0, 2, 3)).view(1, -1, 1, 1), x.std(dim=(0, 2, 3)).clamp_min(1e-6).view(1, -1, 1, 1), image=True)
        return cls(x_train.mean(dim=0, keepdim=True), x_train.std(dim=0, keepdim=True).clamp_min(1e-6), image=False)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0 if self.image else x.float()
        return (x - self.mean.to(x.device)) / self.std.to(x.device)


def augment_batch(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop after zero padding by ``pad`` and a random horizontal flip, per image."""
    b, ch, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :]
    flip = torch.rand(b, generator=generator) < 0.5
    cols = torch.where(flip[:, None, None, None], cols.flip(-1), cols)
    return padded[torch.arange(b)[:, None, None, None], torch.arange(ch)[None, :, None, None], rows, cols]


def epoch_batches(
    n: int, batch_size: int, *, seed: int, epoch: int, rank: int = 0, world: int = 1
) -> Iterator[torch.Tensor]:
    """Index batches of one epoch: a seeded shuffle shared by all ranks, full global batches
    only; rank r takes positions r, r + world, ... of each global batch, so the union over
    ranks is exactly the single-process batch."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    for start in range(0, n - batch_size + 1, batch_size):
        yield order[start : start + batch_size][rank::world]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return n // batch_size
