"""Datasets read from local files (never downloaded), long-tail subsampling and batching.

Every loader returns a :class:`Dataset` of in-memory tensors: images as uint8 (N, C, H, W),
feature vectors as float32 (N, k), labels as int64 in ``0..c-1``.
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InvalidInputError, did_you_mean

DATASETS = ("fashion-mnist", "cifar10", "cifar100", "imagefolder", "features", "synthetic")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass
class Dataset:
    """A train/test split held in memory."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    augment: bool = False  # random crop with padding and horizontal flip (CIFAR)
    synthetic: bool = False
    super_classes: list[int] | None = None  # class -> super-class, for synthetic data

    @property
    def is_image(self) -> bool:
        return self.x_train.ndim == 4

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.y_train.numpy(), minlength=self.num_classes)


def load_dataset(name: str, path: str | Path | None = None, *, seed: int = 0) -> Dataset:
    """Read dataset ``name`` from ``path`` (see the CLI's ``--data`` help for the layouts)."""
    if name not in DATASETS:
        raise InvalidInputError(f"unknown dataset {name!r}.{did_you_mean(name, DATASETS)} Choose one of {', '.join(DATASETS)}")
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
        return _image_folder(root, seed=seed)
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
    return Dataset(
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
    return Dataset("cifar100" if fine else "cifar10", xtr, ytr, xte, yte, 100 if fine else 10, augment=True)


def _image_folder(root: Path, *, seed: int, size: int = 32) -> Dataset:
    """``root/<class>/*.png`` (split 80/20 by seed) or ``root/train/<class>`` + ``root/test/<class>``."""
    from PIL import Image

    def read_split(folder: Path, classes: list[str]) -> tuple[list[np.ndarray], list[int]]:
        images, labels = [], []
        for label, cls in enumerate(classes):
            for file in sorted((folder / cls).iterdir()):
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    try:
                        with Image.open(file) as im:
                            images.append(np.asarray(im.convert("RGB").resize((size, size))))
                    except OSError as e:
                        raise InvalidInputError(f"cannot read image {file}: {e}") from None
                    labels.append(label)
        return images, labels

    def classes_in(folder: Path) -> list[str]:
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    def stack(images: list[np.ndarray], labels: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
        return x, torch.tensor(labels, dtype=torch.int64)

    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = classes_in(root / "train")
        tr, te = read_split(root / "train", classes), read_split(root / "test", classes)
        if not tr[0] or not te[0]:
            raise InvalidInputError(f"no images found under {root}/train and {root}/test")
        (xtr, ytr), (xte, yte) = stack(*tr), stack(*te)
    else:
        classes = classes_in(root)
        images, labels = read_split(root, classes)
        if len(classes) < 2 or not images:
            raise InvalidInputError(f"{root} needs one sub-folder of images per class (at least 2)")
        x, y = stack(images, labels)
        train, test = _split(len(y), seed)
        xtr, ytr, xte, yte = x[train], y[train], x[test], y[test]
    return Dataset("imagefolder", xtr, ytr, xte, yte, len(classes), augment=True)


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
    return Dataset("features", xt[train], yt[train], xt[test], yt[test], len(labels))


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
    return Dataset("synthetic", xtr, ytr, xte, yte, c, synthetic=True, super_classes=parents.tolist())


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
    sel = torch.cat(keep).sort().values
    return Dataset(
        f"{data.name}-LT{rho:g}", data.x_train[sel], data.y_train[sel], data.x_test, data.y_test,
        data.num_classes, data.augment, data.synthetic, data.super_classes,
    )  # fmt: skip


# -- batching ---------------------------------------------------------------------------------


class Normalizer:
    """Turns stored inputs into float model inputs: images scaled and standardised per channel."""

    def __init__(self, x_train: torch.Tensor) -> None:
        self.image = x_train.ndim == 4
        if self.image:
            x = x_train.float() / 255.0
            self.mean = x.mean(dim=(0, 2, 3)).view(1, -1, 1, 1)
            self.std = x.std(dim=(0, 2, 3)).clamp_min(1e-6).view(1, -1, 1, 1)
        else:
            self.mean = x_train.mean(dim=0, keepdim=True)
            self.std = x_train.std(dim=0, keepdim=True).clamp_min(1e-6)

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
