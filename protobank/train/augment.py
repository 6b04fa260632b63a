"""Training augmentation: which recipe, its default for the data, and the random draws.

Three recipes, named as ``--augment`` takes them, and a horizontal flip as a separate switch:

- ``crop``: pad the image by 1/8 of its side with zeros and cut a random window of the
  original size (CIFAR's recipe: 4 px around 32 px). The whole image stays in view, shifted
  by at most 1/8: right for small images (characters, digits, icons, CIFAR-like data).
- ``resized-crop``: a random box of 8-100 % of the area and aspect ratio 3/4-4/3, resized
  to the model's size (torchvision's ``RandomResizedCrop``): the ImageNet recipe for photos.
- ``none``: the image as it is tested.

A flip mirrors the training view with probability 1/2; it changes the class of characters
and is off for them. Every draw is a function of (seed, epoch, sample index) or of (seed,
epoch, global batch) alone, never of the worker or process that makes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InvalidInputError

RECIPES = ("crop", "resized-crop", "none")
AUTO = "auto"
#: image folders up to this side (``--image-size``) default to ``crop``, larger ones to ``resized-crop``
SMALL_IMAGE_MAX = 64
PAD_SHARE = 1 / 8  # ``crop`` pads by this share of the side: 4 px of 32
CROP_SCALE = (0.08, 1.0)  # RandomResizedCrop's defaults
CROP_RATIO = (3 / 4, 4 / 3)
CENTRE_CROP = 0.875  # resized-crop's test view: short side to size / 0.875, the central size x size

Box = tuple[int, int, int, int]  # top, left, height, width in the decoded image


@dataclass(frozen=True)
class Augmentation:
    """A resolved training augmentation: ``recipe`` (one of :data:`RECIPES`) and ``flip``."""

    recipe: str = "none"
    flip: bool = False

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise InvalidInputError(f"--augment must be one of {', '.join((AUTO, *RECIPES))}, got {self.recipe!r}")

    @property
    def active(self) -> bool:
        return self.recipe != "none" or self.flip


NO_AUGMENTATION = Augmentation()


def resolve(requested: str | None, flip: bool | None, default: Augmentation) -> Augmentation:
    """``requested`` (``auto`` or None: the data's ``default`` recipe) and ``flip`` (None: the
    default's flip) as one :class:`Augmentation`."""
    recipe = default.recipe if requested in (None, AUTO) else requested
    return Augmentation(recipe, default.flip if flip is None else flip)


def folder_default(image_size: int) -> Augmentation:
    """The default for an image folder read at ``image_size``: ``crop`` for small images,
    ``resized-crop`` for large ones, with flips."""
    return Augmentation("crop" if image_size <= SMALL_IMAGE_MAX else "resized-crop", flip=True)


def pad_of(side: int) -> int:
    """The ``crop`` recipe's padding for an image of ``side`` pixels (4 for 32)."""
    return max(1, round(side * PAD_SHARE))


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


@dataclass(frozen=True)
class View:
    """What one sample's training (or test) view takes from its decoded image: ``box``, resized
    to the model's size; then, for ``crop``, the window at ``shift`` (row, column offsets in
    0..2 * pad) of the zero-padded result; then a mirror if ``flip``."""

    box: Box
    shift: tuple[int, int] | None = None
    flip: bool = False


def draw_view(aug: Augmentation, height: int, width: int, size: int, rng: np.random.Generator | None) -> View:
    """The view of a ``height`` x ``width`` image at ``size`` px: the test view when ``rng`` is
    None (the centre crop under ``resized-crop``, else the whole image), else a draw of the
    recipe from ``rng``. The flip's coin is drawn after the recipe's draws whether or not
    flips are on, so turning flips off leaves every crop as it was."""
    whole = (0, 0, height, width)
    if rng is None:
        return View(centre_box(height, width) if aug.recipe == "resized-crop" else whole)
    box, shift = whole, None
    if aug.recipe == "resized-crop":
        box = random_resized_box(height, width, rng)
    elif aug.recipe == "crop":
        shift = (int(rng.integers(0, 2 * pad_of(size) + 1)), int(rng.integers(0, 2 * pad_of(size) + 1)))
    coin = bool(rng.random() < 0.5)
    return View(box, shift, coin and aug.flip)


def shift_and_flip(image: torch.Tensor, view: View) -> torch.Tensor:
    """Apply ``view``'s ``crop`` window and mirror to an already resized (C, S, S) image."""
    if view.shift is not None:
        size, pad = image.shape[-1], pad_of(image.shape[-1])
        padded = torch.nn.functional.pad(image, (pad, pad, pad, pad))
        oy, ox = view.shift
        image = padded[:, oy : oy + size, ox : ox + size]
    return image.flip(-1) if view.flip else image


def augment_batch(x: torch.Tensor, generator: torch.Generator, pad: int = 4, *, flip: bool = True) -> torch.Tensor:
    """Random crop after zero padding by ``pad`` and, with ``flip``, a random horizontal flip,
    per image of a whole batch at once (in-memory images; ``pad=0``: the flip alone)."""
    b, ch, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :]
    mirrored = (torch.rand(b, generator=generator) < 0.5) & flip
    cols = torch.where(mirrored[:, None, None, None], cols.flip(-1), cols)
    return padded[torch.arange(b)[:, None, None, None], torch.arange(ch)[None, :, None, None], rows, cols]


def resized_crop_batch(x: torch.Tensor, indices: torch.Tensor, aug: Augmentation, *, seed: int, epoch: int) -> torch.Tensor:
    """``resized-crop`` (and flip) for in-memory uint8 images ``x`` (B, C, H, W), sample
    ``indices[i]``'s box drawn from (seed, epoch, index) as for image folders, each box
    resized back to H x W (bilinear, antialiased)."""
    out = torch.empty_like(x)
    h, w = x.shape[-2:]
    for i, index in enumerate(indices.tolist()):
        view = draw_view(aug, h, w, h, np.random.default_rng((seed, epoch, index)))
        top, left, bh, bw = view.box
        crop = x[i : i + 1, :, top : top + bh, left : left + bw].float()
        resized = torch.nn.functional.interpolate(crop, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        out[i] = shift_and_flip(resized[0].round().clamp(0, 255).to(x.dtype), view)
    return out
