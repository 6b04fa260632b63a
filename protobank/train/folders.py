"""The layout of an image folder: which sub-folders are classes, which are splits.

Two layouts are read: ``root/<class>/<image>`` (split 80/20 by the seed), and
``root/train/<class>/`` beside ``root/test/<class>/`` or ``root/val/<class>/`` (ImageNet's own
layout is ``train/`` + ``val/``). Names starting with a dot (``.ipynb_checkpoints``,
``.DS_Store``) are never classes or images. Anything that would quietly change the task is
refused with the folder named: an empty class folder, a test class that training lacks, a
split folder where a class was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InvalidInputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
TRAIN_SPLIT = "train"
HELD_OUT_SPLITS = ("test", "val")  # the first that holds class folders is the test split
SPLIT_NAMES = (TRAIN_SPLIT, *HELD_OUT_SPLITS)
LAYOUTS = "root/<class>/<image> (split 80/20), or root/train/<class>/ with root/test/<class>/ or root/val/<class>/"


@dataclass
class FolderIndex:
    """Image paths (relative to their split's root, as a byte-string array) and labels."""

    classes: list[str]
    train_root: Path
    train_files: np.ndarray
    y_train: torch.Tensor
    test_root: Path
    test_files: np.ndarray
    y_test: torch.Tensor


def sub_folders(folder: Path) -> list[str]:
    """The visible sub-folders of ``folder``, sorted."""
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def image_names(folder: Path) -> list[str]:
    """The visible image files directly in ``folder``, sorted."""
    return sorted(
        e.name for e in os.scandir(folder)
        if e.is_file() and not e.name.startswith(".") and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES
    )  # fmt: skip


def scan_classes(folder: Path, classes: list[str]) -> tuple[np.ndarray, torch.Tensor]:
    """Image files of ``folder/<class>/`` for each class present, labelled by its position in
    ``classes``; a class folder without images is refused."""
    files: list[bytes] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        if not (folder / cls).is_dir():
            continue
        names = image_names(folder / cls)
        if not names:
            raise InvalidInputError(
                f"class folder {folder / cls} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}): "
                "remove it or add its images"
            )
        files += [os.fsencode(os.path.join(cls, n)) for n in names]
        labels += [label] * len(names)
    return np.array(files, dtype=np.bytes_), torch.tensor(labels, dtype=torch.int64)


def read_folder(root: Path, *, seed: int) -> FolderIndex:
    """The file index of the image folder ``root`` in either layout (see the module doc)."""
    found = sub_folders(root)
    splits = [s for s in SPLIT_NAMES if s in found]
    if splits:
        return _read_splits(root, splits)
    if len(found) < 2:
        raise InvalidInputError(f"{root} needs one sub-folder of images per class (at least 2); the layouts read: {LAYOUTS}")
    files, labels = scan_classes(root, found)
    train, test = seeded_split(len(labels), seed)
    return FolderIndex(found, root, files[train.numpy()], labels[train], root, files[test.numpy()], labels[test])


def _read_splits(root: Path, splits: list[str]) -> FolderIndex:
    named = ", ".join(f"{s}/" for s in splits)
    held_out = [s for s in HELD_OUT_SPLITS if s in splits]
    if TRAIN_SPLIT not in splits or not held_out:
        missing = "train/" if TRAIN_SPLIT not in splits else "test/ or val/"
        raise InvalidInputError(f"{root} has {named} but no {missing} beside it: a split name is not a class; the layouts read: {LAYOUTS}")
    classes = sub_folders(root / TRAIN_SPLIT)
    if not classes:
        raise InvalidInputError(f"{root / TRAIN_SPLIT} holds no class sub-folders: put its images into train/<class>/")
    with_classes = [s for s in held_out if sub_folders(root / s)]
    if not with_classes:
        raise InvalidInputError(
            f"{root / held_out[0]} holds no class sub-folders: sort its images into {held_out[0]}/<class>/ "
            "with the class names of train/"
        )
    test_split = with_classes[0]
    unknown = sorted(set(sub_folders(root / test_split)) - set(classes))
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        raise InvalidInputError(
            f"test class folder {root / test_split / unknown[0]}{more} has no training folder in {root / TRAIN_SPLIT}: "
            "every test class needs training images"
        )
    train_files, y_train = scan_classes(root / TRAIN_SPLIT, classes)
    test_files, y_test = scan_classes(root / test_split, classes)
    return FolderIndex(classes, root / TRAIN_SPLIT, train_files, y_train, root / test_split, test_files, y_test)


def seeded_split(n: int, seed: int, test_share: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and test positions of ``n`` samples: a ``test_share`` drawn by ``seed``."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(n * test_share)))
    return order[n_test:], order[:n_test]
