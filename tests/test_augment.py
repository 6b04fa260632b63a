"""Augmentation is a choice: the recipes' pixels, flips as a separate switch, the default that
suits the data, and the resolved recipe recorded by every run and checked on resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from protobank.errors import InvalidInputError
from protobank.train.augment import Augmentation, pad_of
from protobank.train.data import load_dataset, synthetic_mixture
from protobank.train.datasets import InMemoryDataset


def _square_folder(root, rng, side=16, per_class=6):
    """Two classes of ``side`` px squares: read at ``side`` px, the resize is the identity."""
    from PIL import Image

    pixels = {}
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            p = (rng.random((side, side, 3)) * 255).astype(np.uint8)
            Image.fromarray(p).save(root / cls / f"{i}.png")
            pixels[p.tobytes()] = p
    return torch.stack([torch.from_numpy(p).permute(2, 0, 1) for p in pixels.values()])


def _windows(image, pad):
    big = torch.nn.functional.pad(image, (pad, pad, pad, pad))
    side = image.shape[-1]
    return [big[:, r : r + side, c : c + side] for r in range(2 * pad + 1) for c in range(2 * pad + 1)]


def _source_of(view, originals, pad):
    """Index of the original whose padded window (maybe mirrored) ``view`` is, and whether mirrored."""
    for k, image in enumerate(originals):
        for w in _windows(image, pad):
            if torch.equal(view, w):
                return k, False
            if torch.equal(view, w.flip(-1)):
                return k, True
    raise AssertionError("not a window of the padded image")


def test_crop_is_a_window_of_the_padded_image_and_flips_are_a_switch(tmp_path):
    originals = _square_folder(tmp_path, np.random.default_rng(0))
    pad = pad_of(16)
    assert pad == 2 and pad_of(32) == 4  # 1/8 of the side: CIFAR's 4 of 32
    views = {}
    for flip in (True, False):
        data = load_dataset("imagefolder", tmp_path, image_size=16, workers=0, augment="crop", flip=flip)
        views[flip] = torch.cat([x for x, _ in data.train_batches(4, seed=1, epoch=0)])
    sources = {flip: [_source_of(v, originals, pad) for v in views[flip]] for flip in views}
    assert not any(m for _, m in sources[False])  # --no-flip: never mirrored
    assert any(m for _, m in sources[True])
    # the same window whether flips are on or off: the switch changes the mirror only
    for with_flip, without, (_, mirrored) in zip(views[True], views[False], sources[True]):
        assert torch.equal(with_flip, without.flip(-1) if mirrored else without)
    # and the windows move: not every view is the unshifted image
    assert any(not any(torch.equal(v, o) for o in originals) for v in views[False])


def test_none_trains_on_the_test_view(tmp_path):
    originals = _square_folder(tmp_path, np.random.default_rng(1))
    data = load_dataset("imagefolder", tmp_path, image_size=16, workers=0, augment="none", flip=False)
    for x, _ in data.train_batches(4, seed=0, epoch=0):
        assert all(any(torch.equal(v, o) for o in originals) for v in x)
    # crop's and none's test view is the whole image, resized (here: as it is)
    tested = torch.cat([x for x, _ in data.test_batches(4)])
    assert all(any(torch.equal(v, o) for o in originals) for v in tested)


def test_resized_crop_flips_off_leave_the_boxes(tmp_path):
    _square_folder(tmp_path, np.random.default_rng(2), side=24)
    views = {}
    for flip in (True, False):
        data = load_dataset("imagefolder", tmp_path, image_size=12, workers=0, augment="resized-crop", flip=flip)
        views[flip] = torch.cat([x for x, _ in data.train_batches(4, seed=0, epoch=0)])
    same = [torch.equal(a, b) for a, b in zip(views[True], views[False])]
    mirrored = [torch.equal(a, b.flip(-1)) for a, b in zip(views[True], views[False])]
    assert all(s or m for s, m in zip(same, mirrored)) and not all(same)


def test_default_suits_the_data(tmp_path):
    _square_folder(tmp_path, np.random.default_rng(3))
    small = load_dataset("imagefolder", tmp_path, image_size=64, workers=0)
    large = load_dataset("imagefolder", tmp_path, image_size=65, workers=0)
    assert small.augmentation == Augmentation("crop", flip=True)
    assert large.augmentation == Augmentation("resized-crop", flip=True)
    assert load_dataset("imagefolder", tmp_path, image_size=32, flip=False).augmentation == Augmentation("crop", flip=False)
    assert load_dataset("synthetic").augmentation == Augmentation("none", flip=False)
    with pytest.raises(InvalidInputError, match="applies to images"):
        load_dataset("synthetic", augment="crop")
    with pytest.raises(InvalidInputError, match="applies to images"):
        load_dataset("synthetic", flip=True)
    with pytest.raises(InvalidInputError, match="--augment must be one of auto, crop"):
        load_dataset("imagefolder", tmp_path, augment="random-crop")


def _images_in_memory(n=24, side=32):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=g)
    return InMemoryDataset("toy", x, torch.arange(n) % 4, x[:8], torch.arange(8) % 4, 4)


@pytest.mark.parametrize("recipe", ["crop", "resized-crop", "none"])
def test_in_memory_recipes_are_the_same_for_any_ranks(recipe):
    data = _images_in_memory()
    data.augmentation = Augmentation(recipe, flip=True)
    one = list(data.train_batches(8, seed=2, epoch=1))
    shares = [list(data.train_batches(8, seed=2, epoch=1, rank=r, world=2)) for r in range(2)]
    for i, (x, y) in enumerate(one):
        for r in range(2):
            assert torch.equal(shares[r][i][0], x[r::2]) and torch.equal(shares[r][i][1], y[r::2])
    plain = list(data.train_batches(8, seed=2, epoch=1, augment=False))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(one, plain))  # it did augment


def test_in_memory_crop_without_flip_is_a_padded_window():
    data = _images_in_memory()
    data.augmentation = Augmentation("crop", flip=False)
    x, y = next(iter(data.train_batches(8, seed=0, epoch=0)))
    plain, _ = next(iter(data.train_batches(8, seed=0, epoch=0, augment=False)))
    for view, original in zip(x, plain):
        assert any(torch.equal(view, w) for w in _windows(original, 4))


def test_runs_record_the_resolved_recipe_and_resume_refuses_a_change(tmp_path, run_cli):
    _square_folder(tmp_path / "images", np.random.default_rng(0))
    out = tmp_path / "run"
    base = ("train", "--data", "imagefolder", "--data-path", str(tmp_path / "images"), "--batch-size", "4",
            "--image-size", "16", "--workers", "0", "--dim", "4", "--out", str(out), "--json")  # fmt: skip
    code, stdout, err = run_cli(*base, "--epochs", "1", "--no-flip")
    assert code == 0, err
    metrics = json.loads(stdout)
    assert (metrics["augment"], metrics["flip"]) == ("crop", False)  # auto at 32 px, recorded resolved
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert (state["settings"]["augment"], state["settings"]["flip"]) == ("crop", False)
    code, _, err = run_cli(*base, "--epochs", "2", "--resume", "--augment", "resized-crop", "--no-flip")
    assert code == 1 and "augment='crop' (now 'resized-crop')" in err and "\n" not in err.strip()
    code, _, err = run_cli(*base, "--epochs", "2", "--resume")  # the default flips: a change too
    assert code == 1 and "flip=False (now True)" in err
    code, stdout, err = run_cli(*base, "--epochs", "2", "--resume", "--augment", "crop", "--no-flip")
    assert code == 0, err
    code, stdout, err = run_cli("evaluate", str(out), "--json")
    assert code == 0, err


def test_feature_runs_record_no_augmentation():
    from protobank.train.distributed import DistContext
    from protobank.train.run import RunOptions, run_training
    from protobank.train.trainer import TrainConfig

    m = run_training(RunOptions(data="synthetic", dim=4, config=TrainConfig(epochs=1, batch_size=100)), DistContext())
    assert (m["augment"], m["flip"]) == ("none", False)
    assert synthetic_mixture().augmentation == Augmentation()
