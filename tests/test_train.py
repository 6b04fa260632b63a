"""The training companion: eq. 6 and eq. 8 by hand, buffers, a tiny run, resume, the
synthetic super-class experiment, and every data format on tiny files."""

from __future__ import annotations

import gzip
import json
import pickle

import numpy as np
import pytest
import torch

import protobank
from protobank.errors import InvalidInputError, ProtobankError
from protobank.train import (
    ClassMeanTracker,
    Classifier,
    PrototypeHead,
    SoftmaxHead,
    TrainConfig,
    Trainer,
    build_backbone,
    build_prototype_head,
    ipm_loss,
    long_tail,
    synthetic_mixture,
)
from protobank.train.data import augment_batch, epoch_batches, load_dataset, read_idx


def test_tracker_is_the_momentum_average_of_batch_class_means():
    tracker = ClassMeanTracker(3, 2, momentum=0.9)
    f1 = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    y1 = torch.tensor([0, 0, 2])  # label 0 twice in one batch: both samples count
    tracker.update(f1, y1)
    m0 = 0.1 * (np.array([0.6, 0.8]) + np.array([1.0, 0.0])) / 2
    m2 = 0.1 * np.array([0.0, 1.0])
    np.testing.assert_allclose(tracker.means[0], m0, atol=1e-7)
    np.testing.assert_allclose(tracker.means[1], [0, 0])
    np.testing.assert_allclose(tracker.means[2], m2, atol=1e-7)
    f2 = torch.tensor([[0.0, -5.0], [-1.0, 0.0], [0.0, 1.0]])
    y2 = torch.tensor([1, 0, 0])
    tracker.update(f2, y2)
    m0 = 0.9 * m0 + 0.1 * (np.array([-1.0, 0.0]) + np.array([0.0, 1.0])) / 2
    np.testing.assert_allclose(tracker.means[0], m0, atol=1e-7)
    np.testing.assert_allclose(tracker.means[1], 0.1 * np.array([0.0, -1.0]), atol=1e-7)
    np.testing.assert_allclose(tracker.means[2], m2, atol=1e-7)  # absent: unchanged
    assert tracker.seen.tolist() == [True, True, True]


def test_ipm_loss_is_eq6():
    torch.manual_seed(0)
    head = PrototypeHead(torch.nn.functional.normalize(torch.randn(5, 3), dim=1))
    head.set_assignment([2, 0, 1, 4, 3])
    z, y = torch.randn(8, 3), torch.randint(0, 5, (8,))
    w = head.prototypes[head.assignment[y]]
    expected = np.mean([0.5 * (float(z[i] @ w[i] / z[i].norm()) - 1) ** 2 for i in range(8)])
    assert float(ipm_loss(z, y, head)) == pytest.approx(expected, rel=1e-6)


def test_head_buffers_move_save_and_validate():
    p = protobank.load(d=4, c=8, generate=True)
    head = PrototypeHead(p)
    assert [n for n, _ in head.named_parameters()] == []
    assert set(head.state_dict()) == {"prototypes", "assignment"}
    assert head.prototype_sha256 == p.content_sha256
    assert head.double().prototypes.dtype == torch.float64  # buffers follow .to()
    assert head.set_assignment(list(range(7, -1, -1))) == 8
    with pytest.raises(InvalidInputError, match="permutation"):
        head.set_assignment([0] * 8)
    logits = head(torch.randn(5, 4, dtype=torch.float64))
    assert logits.shape == (5, 8) and logits.abs().max() <= 1 + 1e-9


def _tiny(head_kind="prototypes", assign="dynamic", epochs=3, seed=0, **kw):
    data = synthetic_mixture(super_classes=3, classes_per_super=4, dim=16, train_per_class=60, test_per_class=30, seed=seed)
    torch.manual_seed(seed)
    backbone = build_backbone("mlp", data.input_shape, 6)
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=0.05, assign=assign, seed=seed, **kw)
    prototypes = protobank.load(d=6, c=12, generate=True)
    head = build_prototype_head(prototypes, cfg.head_options()) if head_kind == "prototypes" else SoftmaxHead(6, 12)
    return Trainer(Classifier(backbone, head), cfg), data


def test_prototypes_get_no_gradient_and_stay_bit_identical():
    trainer, data = _tiny(epochs=2, assign_every=0.25)
    before = trainer.head.prototypes.clone()
    trainer.fit(data)
    assert not trainer.head.prototypes.requires_grad
    assert all(p is not trainer.head.prototypes for p in trainer.model.parameters())
    assert torch.equal(trainer.head.prototypes, before)
    assert trainer.head.prototypes.numpy().tobytes() == before.numpy().tobytes()


def test_tiny_run_learns_and_an_interrupted_run_resumes_exactly(tmp_path):
    straight, data = _tiny(epochs=3)
    res = straight.fit(data)
    assert res.final["test_top1"] > 3 * 100 / 12  # well above chance
    ckpt = tmp_path / "checkpoint.pt"
    first, _ = _tiny(epochs=3)

    def interrupt_after_two(record):
        if record.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        first.fit(data, checkpoint=ckpt, on_epoch=interrupt_after_two)
    resumed, _ = _tiny(epochs=3)
    resumed.load(ckpt)
    resumed.fit(data)
    assert [r.epoch for r in resumed.result.history] == [1, 2, 3]
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(straight.head.assignment, resumed.head.assignment)


def test_resume_against_other_prototypes_fails_loudly(tmp_path):
    trainer, data = _tiny(epochs=1)
    trainer.fit(data, checkpoint=tmp_path / "c.pt")
    other = build_backbone("mlp", data.input_shape, 6)
    config = TrainConfig(epochs=2, batch_size=32)
    rotated = build_prototype_head(torch.from_numpy(np.roll(protobank.load(d=6, c=12, generate=True).vectors, 1, axis=0)), config.head_options())
    stranger = Trainer(Classifier(other, rotated), config)
    with pytest.raises(ProtobankError, match="prototypes sha256"):
        stranger.load(tmp_path / "c.pt")


def test_softmax_baseline_trains_behind_the_same_interface():
    trainer, data = _tiny("softmax", epochs=3)
    res = trainer.fit(data)
    assert res.final["test_top1"] > 3 * 100 / 12
    assert trainer.config.assign == "static" and trainer.assigner is None


def test_dynamic_assignment_puts_related_classes_on_nearer_prototypes():
    """Synthetic super-classes, d < c: measured over three seeds (see docs/benchmarks.md)."""
    gaps, acc = {"dynamic": [], "static": []}, {"dynamic": [], "static": []}
    for seed in range(3):
        for mode in ("dynamic", "static"):
            trainer, data = _tiny(assign=mode, epochs=4, seed=seed)
            final = trainer.fit(data).final
            r = final["related_prototype_cosine"]
            gaps[mode].append(r["same_super_class"] - r["different_super_class"])
            acc[mode].append(final["test_top1"])
    assert min(gaps["dynamic"]) > max(gaps["static"])
    assert np.mean(acc["dynamic"]) >= np.mean(acc["static"]) - 1.0


def test_long_tail_profile_and_batches():
    data = synthetic_mixture(super_classes=2, classes_per_super=5, train_per_class=100, test_per_class=5)
    lt = long_tail(data, 0.01, seed=0)
    counts = lt.class_counts()
    assert counts[0] == 100 and counts[-1] == 1 and np.all(np.diff(counts) <= 0)
    assert len(lt.y_test) == len(data.y_test)
    with pytest.raises(InvalidInputError):
        long_tail(data, 0.0, seed=0)
    # the union of the ranks' shares of each global batch is the single-process batch
    single = list(epoch_batches(100, 8, seed=1, epoch=2))
    shares = [list(epoch_batches(100, 8, seed=1, epoch=2, rank=r, world=2)) for r in range(2)]
    for i, batch in enumerate(single):
        assert sorted(torch.cat([shares[0][i], shares[1][i]]).tolist()) == sorted(batch.tolist())


def test_augmentation_crops_and_flips():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    out = augment_batch(x, torch.Generator().manual_seed(0), pad=0)
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))
    out = augment_batch(x, torch.Generator().manual_seed(1), pad=2)
    big = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):  # each image is one 4x4 window of the zero-padded image, maybe flipped
        windows = [big[i, :, r : r + 4, c : c + 4] for r in range(5) for c in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)


# -- data formats, written tiny and read back through the CLI --------------------------------


def _write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def _fake_fashion_mnist(root, rng):
    root.mkdir()
    for split, n in (("train", 120), ("t10k", 40)):
        y = np.arange(n) % 10
        x = (rng.random((n, 28, 28)) * 60 + y[:, None, None] * 19).astype(np.uint8)
        _write_idx(root / f"{split}-images-idx3-ubyte.gz", x)
        _write_idx(root / f"{split}-labels-idx1-ubyte.gz", y)


def _fake_cifar(root, rng, fine):
    label_key = b"fine_labels" if fine else b"labels"
    files = ["train", "test"] if fine else [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    c = 100 if fine else 10
    for name in files:
        y = rng.integers(0, c, 24)
        x = (rng.random((24, 3072)) * 255).astype(np.uint8)
        with open(root / name, "wb") as f:
            pickle.dump({b"data": x, label_key: y.tolist()}, f)


def _fake_image_folder(root, rng):
    from PIL import Image

    for cls in ("cat", "dog", "fox"):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray((rng.random((20, 24, 3)) * 255).astype(np.uint8)).save(root / cls / f"{i}.png")


@pytest.mark.parametrize("kind", ["fashion-mnist", "cifar10", "cifar100", "imagefolder", "features", "features-split"])
def test_every_data_format_trains_from_the_cli(kind, tmp_path, run_cli):
    rng = np.random.default_rng(0)
    data_path = tmp_path / "data"
    name, extra = kind, []
    if kind == "fashion-mnist":
        _fake_fashion_mnist(data_path, rng)
    elif kind.startswith("cifar"):
        data_path.mkdir()
        _fake_cifar(data_path, rng, fine=kind == "cifar100")
    elif kind == "imagefolder":
        _fake_image_folder(data_path, rng)
    else:
        name = "features"
        data_path = tmp_path / "emb.npz"
        y = np.repeat(np.arange(4), 25)
        arrays = {"X": rng.standard_normal((100, 12)) + y[:, None], "y": y * 7}
        if kind == "features-split":
            arrays["split"] = np.where(np.arange(100) % 5 == 0, "test", "train")
        np.savez(data_path, **arrays)
    if kind == "cifar100":
        extra = ["--dim", "16"]  # c = 100 prototypes in d = 16
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(
        "train", "--data", name, "--data-path", str(data_path), "--epochs", "1", "--batch-size", "8",
        "--out", str(out), "--json", *extra,
    )  # fmt: skip
    assert code == 0, stderr
    metrics = json.loads(stdout)
    assert json.loads((out / "metrics.json").read_text())["test_top1"] == metrics["test_top1"]
    assert (out / "checkpoint.pt").is_file() and (out / "curves.png").stat().st_size > 1000
    for key in ("test_top1", "test_balanced_top1", "assignment_changes", "train_seconds", "assignment_seconds"):
        assert key in metrics
    if kind == "features":
        assert metrics["num_classes"] == 4 and metrics["test_samples"] == 20


def test_idx_reader_rejects_damaged_files(tmp_path):
    bad = tmp_path / "x-idx3-ubyte"
    bad.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]))
    with pytest.raises(InvalidInputError, match="does not match"):
        read_idx(bad)
    with pytest.raises(InvalidInputError, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path)


def test_train_cli_errors_are_one_line(run_cli, tmp_path):
    code, _, err = run_cli("train", "--data", "cifar11")
    assert code == 1 and "Did you mean 'cifar10'" in err and "Traceback" not in err
    code, _, err = run_cli("train", "--data", "cifar10", "--data-path", str(tmp_path / "none"))
    assert code == 1 and "does not exist" in err
    code, _, err = run_cli("train", "--batch-size", "100000", "--out", str(tmp_path / "r"))
    assert code == 1 and "larger than" in err
    code, _, err = run_cli("train", "--resume", "--out", str(tmp_path / "empty"))
    assert code == 1 and "no checkpoint" in err


def test_resume_from_the_cli(run_cli, tmp_path):
    out = tmp_path / "run"
    base = ("train", "--dim", "6", "--batch-size", "64", "--out", str(out), "--json")
    assert run_cli(*base, "--epochs", "1")[0] == 0
    code, stdout, err = run_cli(*base, "--epochs", "2", "--resume")
    assert code == 0, err
    assert [h["epoch"] for h in json.loads(stdout)["history"]] == [1, 2]
    code, _, err = run_cli(*base, "--epochs", "3", "--resume", "--prototypes", "random")
    assert code == 1 and "prototypes sha256" in err


def test_every_train_option_survives_torchrun_parser():
    """torchrun parses (and abbreviates) options before the script: each of ours must pass."""
    import typer
    from torch.distributed.run import get_args_parser

    from protobank.cli import _register, app

    _register()
    command = typer.main.get_command(app).commands["train"]
    parser = get_args_parser()
    for param in command.params:
        spellings = [s for s in param.opts + param.secondary_opts if s.startswith("--")]
        survivors = []
        for opt in spellings:
            try:
                args = parser.parse_args(["--nproc-per-node", "2", "-m", "protobank", "train", opt, "1"])
            except SystemExit:
                continue
            if opt in args.training_script_args:
                survivors.append(opt)
        assert survivors, f"no spelling of {param.name} passes torchrun's parser: {spellings}"


def test_a_trainer_leaves_the_callers_config_as_it_is():
    """One config object for a softmax run and then a prototype run: the second must train the
    prototype head as configured (dynamic assignment, its own loss settings), not as the softmax head did."""
    data = synthetic_mixture(super_classes=3, classes_per_super=4, dim=16, train_per_class=10, test_per_class=5)
    cfg = TrainConfig(epochs=1, batch_size=32)
    softmax = Trainer(Classifier(build_backbone("mlp", data.input_shape, 6), SoftmaxHead(6, 12)), cfg)
    assert (softmax.config.assign, softmax.config.loss) == ("static", "ce")  # what it trains with
    assert cfg == TrainConfig(epochs=1, batch_size=32)
    cfg.loss = "ipm"
    head = build_prototype_head(protobank.load(d=6, c=12, generate=True), cfg.head_options())
    prototypes = Trainer(Classifier(build_backbone("mlp", data.input_shape, 6), head), cfg)
    assert prototypes.assigner is not None and (prototypes.config.assign, prototypes.config.loss) == ("dynamic", "ipm")


def test_a_resumed_run_keeps_its_initial_assignment_figures(tmp_path):
    straight, data = _tiny(epochs=2)
    expected = straight.fit(data).final
    assert expected["initial_assignment_seconds"] > 0
    first, _ = _tiny(epochs=1)
    first.fit(data, checkpoint=tmp_path / "checkpoint.pt")
    resumed, _ = _tiny(epochs=2)
    resumed.load(tmp_path / "checkpoint.pt")
    final = resumed.fit(data).final
    assert final["initial_assignment_changes"] == expected["initial_assignment_changes"]
    assert final["initial_assignment_seconds"] == first.initial_seconds > 0


def test_a_step_the_gradient_scaler_skips_leaves_the_means_finite():
    """Under --amp fp16 an overflowing step gives non-finite features and is skipped by the
    scaler; the run must go on (a CPU gradient scaler and a fake overflow stand in for CUDA)."""
    trainer, data = _tiny(epochs=2, assign_every=0.25)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    calls = {"n": 0}

    def overflow_once(module, inputs, output):
        calls["n"] += module.training
        return output * float("inf") if module.training and calls["n"] == 3 else output

    trainer.model.backbone.register_forward_hook(overflow_once)
    result = trainer.fit(data)
    assert trainer.scaler.get_scale() < 2.0**8  # the step was skipped
    assert torch.isfinite(trainer.assigner.means).all()
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert all(np.isfinite(r.train_loss) for r in result.history)  # the skipped step is not averaged in
    assert result.final["test_top1"] > 3 * 100 / 12
