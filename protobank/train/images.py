"""Image folders streamed from disk through a ``torch.utils.data.DataLoader``.

Only the file index (a path and a label per image) is held in memory; DataLoader workers
decode each batch as it is needed. Each sample's view (see :mod:`protobank.train.augment`) is
drawn from (seed, epoch, sample index) alone: a batch holds the same pixels whatever the
number of workers or processes, so a checkpoint resumes on any world size.

Two interchangeable pixel paths: torchvision's decoders and tensor ops when torchvision is
installed, Pillow otherwise. Both cut the same box out of the same image and resize it
bilinearly with antialiasing; they differ only in rounding. The ``crop`` window and the
flip are applied to the resized tensor, the same code on both paths.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import InvalidInputError
from .augment import Augmentation, View, draw_view, shift_and_flip

BACKENDS = ("torchvision", "pillow")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the statistics every torchvision/timm model expects
IMAGENET_STD = (0.229, 0.224, 0.225)
_TORCHVISION_DECODES = {".png", ".jpg", ".jpeg"}  # the rest goes through Pillow on either path


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


def load_image(path: str, size: int, aug: Augmentation, rng: np.random.Generator | None, backend: str) -> torch.Tensor:
    """Decode ``path`` and return a uint8 (3, size, size) tensor: a training view of ``aug``
    drawn from ``rng``, or the test view when ``rng`` is None."""
    try:
        if backend == "torchvision" and os.path.splitext(path)[1].lower() in _TORCHVISION_DECODES:
            image, view = _torchvision_resized(path, size, aug, rng)
        else:
            image, view = _pillow_resized(path, size, aug, rng)
    except (OSError, RuntimeError, ValueError, Image.DecompressionBombError) as e:
        raise InvalidInputError(f"cannot read image {path}: {e}") from None
    return shift_and_flip(image, view).contiguous()


def _torchvision_resized(path: str, size: int, aug: Augmentation, rng: np.random.Generator | None) -> tuple[torch.Tensor, View]:
    from torchvision.io import ImageReadMode, decode_image, read_file
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2.functional import resized_crop

    image = decode_image(read_file(path), mode=ImageReadMode.RGB)
    view = draw_view(aug, image.shape[1], image.shape[2], size, rng)
    top, left, h, w = view.box
    return resized_crop(image, top, left, h, w, [size, size], interpolation=InterpolationMode.BILINEAR, antialias=True), view


def _pillow_resized(path: str, size: int, aug: Augmentation, rng: np.random.Generator | None) -> tuple[torch.Tensor, View]:
    with Image.open(path) as im:  # the header alone gives the size: the view is drawn before decoding
        view = draw_view(aug, im.height, im.width, size, rng)
        top, left, h, w = view.box
        out = im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + w, top + h))
    return torch.from_numpy(np.asarray(out).copy()).permute(2, 0, 1), view


class ImageFiles(torch.utils.data.Dataset):
    """The map-style dataset the DataLoader reads: sample i is (image, label).

    Paths are one numpy byte-string array rather than a list of Python strings, so forked
    workers do not copy the index page by page as reference counts touch it. ``seed`` None
    gives the test view.
    """

    def __init__(self, root: Path, files: np.ndarray, labels: torch.Tensor, size: int, backend: str,
                 aug: Augmentation, *, seed: int | None = None, epoch: int = 0) -> None:  # fmt: skip
        self.root, self.files, self.labels = os.fsencode(root), files, labels
        self.size, self.backend, self.aug, self.seed, self.epoch = size, backend, aug, seed, epoch

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = os.fsdecode(os.path.join(self.root, self.files[i]))
        rng = None if self.seed is None else np.random.default_rng((self.seed, self.epoch, int(i)))
        return load_image(path, self.size, self.aug, rng, self.backend), self.labels[i]


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
