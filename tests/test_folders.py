"""Image-folder layouts: hidden folders skipped, ImageNet's train/ + val/ read, and every layout
that would quietly change the task refused with the folder named, in one line."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from protobank.errors import InvalidInputError
from protobank.train.data import load_dataset

REPO = Path(__file__).resolve().parent.parent


def _images(folder: Path, n: int, suffix: str = ".png", rng=np.random.default_rng(0)) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray((rng.random((12, 12, 3)) * 255).astype(np.uint8)).save(folder / f"{i}{suffix}")


def _load(root: Path):
    return load_dataset("imagefolder", root, image_size=8, workers=0)


def _refused(root: Path, *expected: str) -> str:
    with pytest.raises(InvalidInputError) as info:
        _load(root)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, message
    return message


def test_hidden_folders_and_files_are_not_classes(tmp_path):
    for cls in ("cat", "dog"):
        _images(tmp_path / cls, 5)
    _images(tmp_path / ".ipynb_checkpoints", 2)  # a class on the old reading: c = 3
    (tmp_path / "cat" / ".DS_Store").mkdir()
    (tmp_path / "dog" / "._0.png").write_bytes(b"AppleDouble metadata, not an image")
    data = _load(tmp_path)
    assert data.num_classes == 2 and len(data.y_train) + len(data.y_test) == 10
    x = [x for x, _ in data.train_batches(2, seed=0, epoch=0)]  # no hidden file is ever read
    assert len(x) == 4


def _imagenet_tree(root: Path) -> None:
    """ImageNet's layout, after its validation images are sorted into class folders."""
    for wnid in ("n01440764", "n01443537", "n01484850"):
        _images(root / "train" / wnid, 4, suffix=".JPEG")
        _images(root / "val" / wnid, 2, suffix=".JPEG")


def test_train_and_val_is_read_like_train_and_test(tmp_path):
    _imagenet_tree(tmp_path)
    data = _load(tmp_path)
    assert data.num_classes == 3 and data.class_counts().tolist() == [4, 4, 4]
    assert data.y_test.tolist() == [0, 0, 1, 1, 2, 2] and data.test_root == tmp_path / "val"
    # ImageNet's unlabelled test/ (images, no class folders) beside val/ is not the test split
    _images(tmp_path / "test", 3, suffix=".JPEG")
    assert _load(tmp_path).test_root == tmp_path / "val"


@pytest.mark.parametrize("doc", ["README.md", "docs/train.md"])
def test_the_docs_imagenet_command_runs_on_imagenets_layout(doc, tmp_path, run_cli):
    text = (REPO / doc).read_text()
    commands = [m.group(1).replace("\\\n", " ") for m in re.finditer(r"^(protobank train (?:[^\n]*\\\n)*[^\n]*)", text, re.M)]
    command = next(c for c in commands if "~/imagenet" in c)
    args = shlex.split(command.replace("~/imagenet", str(tmp_path / "imagenet")))[1:]
    _imagenet_tree(tmp_path / "imagenet")
    # the docs' data options as written; the model and budget made tiny (the last value wins)
    if "--nproc-per-node" in args:  # one process here
        i = args.index("--nproc-per-node")
        args = args[:i] + args[i + 2 :]
    small = ["--backbone", "cnn", "--dim", "4", "--image-size", "16", "--epochs", "1", "--batch-size", "4",
             "--workers", "0", "--device", "cpu", "--out", str(tmp_path / "run"), "--json"]  # fmt: skip
    code, stdout, err = run_cli(*args, *small)
    assert code == 0, err
    metrics = json.loads(stdout)
    assert metrics["num_classes"] == 3 and metrics["train_samples"] == 12 and metrics["test_samples"] == 6


def test_imagenets_unsorted_val_folder_is_refused(tmp_path):
    for wnid in ("n01440764", "n01443537"):
        _images(tmp_path / "train" / wnid, 3, suffix=".JPEG")
    _images(tmp_path / "val", 4, suffix=".JPEG")  # as the ILSVRC archive unpacks: no class folders
    _refused(tmp_path, f"{tmp_path / 'val'} holds no class sub-folders", "val/<class>/")


def test_a_test_class_that_training_lacks_is_refused(tmp_path):
    for cls in ("ant", "bee"):
        _images(tmp_path / "train" / cls, 3)
        _images(tmp_path / "test" / cls, 1)
    _images(tmp_path / "test" / "cow", 1)  # dropped without a word on the old reading
    _refused(tmp_path, f"{tmp_path / 'test' / 'cow'}", "has no training folder")


def test_an_empty_class_folder_is_refused(tmp_path):
    for cls in ("ant", "bee"):
        _images(tmp_path / cls, 3)
    (tmp_path / "cow").mkdir()
    _refused(tmp_path, f"class folder {tmp_path / 'cow'} holds no images")
    (tmp_path / "cow").rmdir()
    for split in ("train", "test"):
        for cls in ("ant", "bee"):
            _images(tmp_path / "split" / split / cls, 2)
    (tmp_path / "split" / "test" / "bee" / "0.png").unlink()
    (tmp_path / "split" / "test" / "bee" / "1.png").unlink()
    _refused(tmp_path / "split", f"class folder {tmp_path / 'split' / 'test' / 'bee'} holds no images")


def test_split_names_are_never_classes(tmp_path):
    flat_val = tmp_path / "flat_val"  # class folders and a flat val/ of images beside them
    for cls in ("ant", "bee"):
        _images(flat_val / cls, 3)
    _images(flat_val / "val", 2)
    _refused(flat_val, f"{flat_val} has val/ but no train/ beside it", "a split name is not a class")
    bare = tmp_path / "bare"  # only train/ and val/, images directly inside
    _images(bare / "train", 3)
    _images(bare / "val", 2)
    _refused(bare, f"{bare / 'train'} holds no class sub-folders")
    lone = tmp_path / "lone"  # train/ without a held-out split
    for cls in ("ant", "bee"):
        _images(lone / "train" / cls, 3)
    _refused(lone, f"{lone} has train/ but no test/ or val/ beside it")
