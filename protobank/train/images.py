"""Image folders streamed from disk through a ``torch.utils.data.DataLoader``.

Only the file index (a path and a label per image) is held in memory; DataLoader workers
decode each batch as it is needed, so memory does not grow with the number of images.
Training images get a random-resized crop and a horizontal flip, test images a resize and a
centre crop (the recipe of torchvision's reference scripts). Each training sample's crop and
flip are drawn from (seed, epoch, sample index) alone: a batch holds the same pixels whatever
the number of workers or processes, so a checkpoint resumes on any world size.

Two interchangeable pixel paths: torchvision's decoders and tensor ops when torchvision is
installed, Pillow otherwise. Both cut the same box out of the same image and resize it
bilinearly with antialiasing; they differ only in rounding.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import InvalidInputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
BACKENDS = ("torchvision", "pillow")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the statistics every torchvision/timm model expects
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_SCALE = (0.08, 1.0)  # RandomResizedCrop's defaults
CROP_RATIO = (3 / 4, 4 / 3)
CENTRE_CROP = 0.875  # test: resize the short side to size / 0.875, keep the central size x size
_TORCHVISION_DECODES = {".png", ".jpg", ".jpeg"}  # the rest goes through Pillow on either path

Box = tuple[int, int, int, int]  # top, left, height, width in the decoded image


@functools.cache
def default_backend() -> str:
    """``torchvision`` when it imports, else ``pillow`` (a torchvision built for another torch
    fails at import with errors other than ImportError)."""
    if importlib.util.find_spec("torchvision") is None:
        return "pillow"
    try:
        import torchvision.io  # noqa: F401
    except Exception:
        return "pillow"
    return "torchvision"


def default_workers() -> int:
    """DataLoader workers per training process: its share of this machine's cores, at most 4."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def random_resized_box(height: int, width: int, rng: np.random.Generator) -> Box:
    """A random area share in ``CROP_SCALE`` and log-uniform aspect ratio in ``CROP_RATIO``,
    up to 10 tries, else the largest central box within the ratios (torchvision's
    ``RandomResizedCrop.get_params``, drawn from ``rng``)."""
    area = height * width
    log_ratio = (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
    for _ in range(10):
        target = area * rng.uniform(*CROP_SCALE)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    ratio = width / height
    if ratio < CROP_RATIO[0]:
        w, h = width, int(round(width / CROP_RATIO[0]))
    elif ratio > CROP_RATIO[1]:
        w, h = int(round(height * CROP_RATIO[1])), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def centre_box(height: int, width: int) -> Box:
    """The central square that ``resize(short side -> size / 0.875)`` then ``centre_crop(size)``
    keeps, in the original image's pixels (one resize instead of two)."""
    side = max(1, int(round(CENTRE_CROP * min(height, width))))
    return (height - side) // 2, (width - side) // 2, side, side


def load_image(path: str, size: int, rng: np.random.Generator | None, backend: str) -> torch.Tensor:
    """Decode ``path`` and return a uint8 (3, size, size) tensor: a random-resized crop and a
    coin-flip mirror when ``rng`` is given (training), the centre crop otherwise."""
    try:
        if backend == "torchvision" and os.path.splitext(path)[1].lower() in _TORCHVISION_DECODES:
            return _torchvision_crop(path, size, rng)
        return _pillow_crop(path, size, rng)
    except (OSError, RuntimeError, ValueError, Image.DecompressionBombError) as e:
        raise InvalidInputError(f"cannot read image {path}: {e}") from None


def _box_and_flip(height: int, width: int, rng: np.random.Generator | None) -> tuple[Box, bool]:
    if rng is None:
        return centre_box(height, width), False
    box = random_resized_box(height, width, rng)
    return box, bool(rng.random() < 0.5)


def _torchvision_crop(path: str, size: int, rng: np.random.Generator | None) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_image, read_file
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2.functional import resized_crop

    image = decode_image(read_file(path), mode=ImageReadMode.RGB)
    (top, left, h, w), flip = _box_and_flip(image.shape[1], image.shape[2], rng)
    out = resized_crop(image, top, left, h, w, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=True)
    return out.flip(-1) if flip else out


def _pillow_crop(path: str, size: int, rng: np.random.Generator | None) -> torch.Tensor:
    with Image.open(path) as im:  # the header alone gives the size: the box is drawn before decoding
        (top, left, h, w), flip = _box_and_flip(im.height, im.width, rng)
        out = im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + w, top + h))
    if flip:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return torch.from_numpy(np.asarray(out).copy()).permute(2, 0, 1).contiguous()


class ImageFiles(torch.utils.data.Dataset):
    """The map-style dataset the DataLoader reads: sample i is (image, label).

    Paths are one numpy byte-string array rather than a list of Python strings, so forked
    workers do not copy the index page by page as reference counts touch it.
    """

    def __init__(self, root: Path, files: np.ndarray, labels: torch.Tensor, size: int, backend: str,
                 *, seed: int | None = None, epoch: int = 0) -> None:  # fmt: skip
        self.root, self.files, self.labels = os.fsencode(root), files, labels
        self.size, self.backend, self.seed, self.epoch = size, backend, seed, epoch

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = os.fsdecode(os.path.join(self.root, self.files[i]))
        rng = None if self.seed is None else np.random.default_rng((self.seed, self.epoch, int(i)))
        return load_image(path, self.size, rng, self.backend), self.labels[i]


def scan_classes(folder: Path, classes: Sequence[str]) -> tuple[np.ndarray, torch.Tensor]:
    """Image files of ``folder/<class>/`` for each class in order, sorted by name: paths
    relative to ``folder`` (a byte-string array) and labels."""
    files: list[bytes] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        d = folder / cls
        names = sorted(e.name for e in os.scandir(d) if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES) if d.is_dir() else []
        files += [os.fsencode(os.path.join(cls, n)) for n in names]
        labels += [label] * len(names)
    return np.array(files, dtype=np.bytes_), torch.tensor(labels, dtype=torch.int64)


def stream(dataset: ImageFiles, batches: Iterable[list[int]], workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Decode ``batches`` (lists of sample indices, read lazily) in ``workers`` processes, in order."""
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=batches, num_workers=workers, pin_memory=torch.cuda.is_available(),
        prefetch_factor=2 if workers else None,
    )  # fmt: skip
    try:
        yield from loader
    except InvalidInputError as e:  # a worker's error arrives wrapped with its traceback
        raise InvalidInputError(str(e).strip().splitlines()[-1].split("InvalidInputError: ", 1)[-1]) from None
