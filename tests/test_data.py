"""Streamed image folders: crops by the recipe, the same pixels for any number of workers or
processes, the test view as a centre crop, both pixel paths alike, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protobank.errors import InvalidInputError
from protobank.train.data import ImageFolder, InMemoryDataset, load_dataset, long_tail, synthetic_mixture
from protobank.train.augment import CROP_RATIO, centre_box, random_resized_box
from protobank.train.images import default_backend

needs_torchvision = pytest.mark.skipif(default_backend() != "torchvision", reason="torchvision is not importable here")


def _folder(root, rng, per_class=6, shape=(40, 56), suffix=".png"):
    from PIL import Image

    for cls in ("ant", "bee", "cow"):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray((rng.random((*shape, 3)) * 255).astype(np.uint8)).save(root / cls / f"{i}{suffix}")
    return root


@pytest.fixture
def folder(tmp_path):
    return _folder(tmp_path / "images", np.random.default_rng(0))


def test_random_resized_box_follows_the_recipe():
    rng = np.random.default_rng(0)
    for height, width in ((64, 64), (50, 120), (300, 200)):
        for _ in range(300):
            top, left, h, w = random_resized_box(height, width, rng)
            assert 0 <= top and top + h <= height and 0 <= left and left + w <= width
            # rounding h and w to pixels moves share and ratio by at most one pixel's worth
            assert 0.08 * height * width - (h + w + 1) <= h * w <= height * width
            assert CROP_RATIO[0] * (h - 1) <= w <= CROP_RATIO[1] * (h + 1)
    # a strip far outside the ratios falls back to its largest central box within them
    assert random_resized_box(10, 1000, np.random.default_rng(1)) == (0, 493, 10, 13)
    assert random_resized_box(1000, 10, np.random.default_rng(1)) == (493, 0, 13, 10)


def test_centre_box_is_resize_then_centre_crop():
    # resize the short side 256 -> 256, crop 224: the central 224 x 224 of a 256 x 320 image
    assert centre_box(256, 320) == (16, 48, 224, 224)
    assert centre_box(320, 256) == (48, 16, 224, 224)


def test_folder_is_an_index_not_pixels(folder):
    data = load_dataset("imagefolder", folder, seed=0, image_size=16, workers=0)
    assert isinstance(data, ImageFolder) and data.input_shape == (3, 16, 16) and data.is_image
    assert len(data.y_train) + len(data.y_test) == 18 and data.num_classes == 3
    assert data.train_files.dtype.kind == "S"  # one byte-string array, no decoded image anywhere
    assert not any(isinstance(v, torch.Tensor) and v.dtype == torch.uint8 for v in vars(data).values())
    lt = long_tail(data, 0.5, seed=0)
    counts, n_max = data.class_counts(), data.class_counts().max()
    assert isinstance(lt, ImageFolder)
    assert lt.class_counts().tolist() == [min(int(n), int(n_max * 0.5 ** (i / 2))) for i, n in enumerate(counts)]
    assert len(lt.train_files) == len(lt.y_train) < len(data.y_train)


@pytest.mark.parametrize("augment", ["crop", "resized-crop", "none"])
def test_batches_are_the_same_for_any_workers_and_ranks(folder, augment):
    data = load_dataset("imagefolder", folder, seed=0, image_size=16, workers=0, augment=augment, flip=True)
    one = list(data.train_batches(6, seed=3, epoch=1))
    assert len(one) == len(data.y_train) // 6 and one[0][0].shape == (6, 3, 16, 16) and one[0][0].dtype == torch.uint8
    data.workers = 2
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(one, data.train_batches(6, seed=3, epoch=1)))
    shares = [list(data.train_batches(6, seed=3, epoch=1, rank=r, world=2)) for r in range(2)]
    for i, (x, y) in enumerate(one):  # rank r holds positions r, r + 2, ... of the global batch
        for r in range(2):
            assert torch.equal(shares[r][i][0], x[r::2]) and torch.equal(shares[r][i][1], y[r::2])
    other = next(iter(data.train_batches(6, seed=3, epoch=2)))
    assert not torch.equal(other[0], one[0][0])  # a new epoch draws a new order and new views


def test_resized_crop_test_view_is_the_centre_crop(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pixels = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    for cls in ("a", "b"):
        for i in range(5):
            Image.fromarray(pixels).save(tmp_path / cls / f"{i}.png")
    # 0.875 * 48 = 42: at --image-size 42 the test view is the central 42 x 42, pixel for pixel
    data = load_dataset("imagefolder", tmp_path, seed=0, image_size=42, workers=0, backend="pillow", augment="resized-crop")
    x, _ = next(iter(data.test_batches(2)))
    expected = torch.from_numpy(pixels[3:45, 11:53]).permute(2, 0, 1)
    assert torch.equal(x[0], expected) and torch.equal(x[1], expected)
    # training views with augment=False are the same centre crop
    x, _ = next(iter(data.train_batches(2, seed=0, epoch=0, augment=False)))
    assert torch.equal(x[0], expected)


@needs_torchvision
@pytest.mark.parametrize("augment", ["crop", "resized-crop", "none"])
def test_torchvision_and_pillow_paths_agree(folder, augment):
    views = {}
    for backend in ("torchvision", "pillow"):
        data = load_dataset("imagefolder", folder, seed=0, image_size=20, workers=0, backend=backend, augment=augment, flip=True)
        views[backend] = next(iter(data.train_batches(6, seed=0, epoch=0)))[0].float()
    # the same boxes and flips; the two resamplers differ by rounding only
    assert (views["torchvision"] - views["pillow"]).abs().mean() < 2.0


def test_a_damaged_image_is_one_clear_error_from_a_worker(folder):
    (folder / "bee" / "2.png").write_bytes(b"not an image")
    data = load_dataset("imagefolder", folder, seed=0, image_size=16, workers=1)
    with pytest.raises(InvalidInputError) as info:
        for _ in data.train_batches(15, seed=0, epoch=0):
            pass
        for _ in data.test_batches(15):
            pass
    message = str(info.value)
    assert message.startswith("cannot read image ") and "bee/2.png" in message and "\n" not in message


def test_image_options_are_checked(folder, tmp_path):
    with pytest.raises(InvalidInputError, match="--image-size"):
        load_dataset("imagefolder", folder, image_size=4)
    with pytest.raises(InvalidInputError, match="--workers"):
        load_dataset("imagefolder", folder, workers=-1)
    with pytest.raises(InvalidInputError, match="backend"):
        load_dataset("imagefolder", folder, backend="opencv")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "b").mkdir()
    with pytest.raises(InvalidInputError, match="holds no images"):
        load_dataset("imagefolder", tmp_path / "empty")


def test_train_and_test_folders(tmp_path):
    rng = np.random.default_rng(2)
    _folder(tmp_path / "train", rng, per_class=4, suffix=".jpg")
    _folder(tmp_path / "test", rng, per_class=2, suffix=".jpg")
    data = load_dataset("imagefolder", tmp_path, image_size=16, workers=0)
    assert data.class_counts().tolist() == [4, 4, 4] and data.y_test.tolist() == [0, 0, 1, 1, 2, 2]
    xs = torch.cat([x for x, _ in data.test_batches(4)])
    assert xs.shape == (6, 3, 16, 16)


def test_in_memory_sets_answer_the_same_interface():
    data = synthetic_mixture(super_classes=2, classes_per_super=2, train_per_class=10, test_per_class=3)
    assert isinstance(data, InMemoryDataset)
    one = list(data.train_batches(8, seed=0, epoch=0))
    shares = [list(data.train_batches(8, seed=0, epoch=0, rank=r, world=2)) for r in range(2)]
    assert torch.equal(one[1][0][1::2], shares[1][1][0])
    test = list(data.test_batches(5, rank=1, world=2))
    assert torch.equal(test[0][0], data.x_test[5:10])
    norm = data.normalizer()(data.x_train)
    assert torch.allclose(norm.mean(0), torch.zeros(norm.shape[1]), atol=1e-5)
