"""The one interface every dataset answers the Trainer through, and its two kinds.

:class:`Dataset`: ``train_batches`` (this rank's share of each global batch of an epoch) and
``test_batches``, both yielding stored inputs on the CPU, and ``normalizer()``, which turns
them into model inputs on any device. Small sets live in memory (:class:`InMemoryDataset`:
images as uint8 (N, C, H, W), feature vectors as float32 (N, k)); image folders stream from
disk (:class:`ImageFolder`). Labels are int64 in ``0..c-1``. Each holds its resolved
``augmentation`` (:mod:`protobank.train.augment`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .augment import NO_AUGMENTATION, Augmentation, augment_batch, pad_of, resized_crop_batch
from .batching import Normalizer, epoch_batches
from .images import IMAGENET_MEAN, IMAGENET_STD, ImageFiles, stream

Batch = tuple[torch.Tensor, torch.Tensor]  # stored inputs, labels


class Dataset(ABC):
    """A train/test split, read by the Trainer in batches only."""

    name: str
    y_train: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    augmentation: Augmentation
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
    """A train/test split held in memory as tensors.

    Images are augmented per global batch: ``crop`` and flips drawn for the whole batch from
    (seed, epoch), ``resized-crop`` per sample from (seed, epoch, index), then split to ranks.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    augmentation: Augmentation = NO_AUGMENTATION
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
        aug = self.augmentation
        crops = torch.Generator().manual_seed(seed * 7919 + epoch)
        for batch in epoch_batches(len(self.y_train), batch_size, seed=seed, epoch=epoch):
            mine = batch[rank::world]
            if not (augment and aug.active):
                x = self.x_train[mine]
            elif aug.recipe == "resized-crop":
                x = resized_crop_batch(self.x_train[mine], mine, aug, seed=seed, epoch=epoch)
            else:  # drawn for the global batch, then split
                pad = pad_of(self.x_train.shape[-1]) if aug.recipe == "crop" else 0
                x = augment_batch(self.x_train[batch], crops, pad, flip=aug.flip)[rank::world]
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
    (3, ``image_size``, ``image_size``) images, the training view of ``augmentation`` for
    training, the test view for testing; see :mod:`protobank.train.images`.
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
    augmentation: Augmentation = NO_AUGMENTATION
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
        files = ImageFiles(self.train_root, self.train_files, self.y_train, self.image_size, self.backend, self.augmentation,
                           seed=seed if augment else None, epoch=epoch)  # fmt: skip
        batches = (b.tolist() for b in epoch_batches(len(self.y_train), batch_size, seed=seed, epoch=epoch, rank=rank, world=world))
        return stream(files, batches, self.workers)

    def test_batches(self, batch_size: int, *, rank: int = 0, world: int = 1) -> Iterator[Batch]:
        n = len(self.y_test)
        files = ImageFiles(self.test_root, self.test_files, self.y_test, self.image_size, self.backend, self.augmentation)
        batches = (list(range(s, min(s + batch_size, n))) for s in range(rank * batch_size, n, batch_size * world))
        return stream(files, batches, self.workers)

    def with_train_subset(self, keep: torch.Tensor, name: str) -> ImageFolder:
        return replace(self, name=name, train_files=self.train_files[keep.numpy()], y_train=self.y_train[keep])
