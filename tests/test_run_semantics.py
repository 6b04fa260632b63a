"""What a run folder promises: `protobank evaluate` reproduces metrics.json from the checkpoint,
resume refuses changed settings by name, a re-run never overwrites, and --amp trains."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_train import _tiny, _write_idx

from protobank.errors import InvalidInputError


def fake_fashion_mnist(root, *, n_train=96, n_test=40, seed=0):
    """Tiny IDX files with class-dependent brightness, so a cnn learns something in one epoch."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % 10
        x = (rng.random((n, 28, 28)) * 60 + y[:, None, None] * 19).astype(np.uint8)
        _write_idx(root / f"{split}-images-idx3-ubyte.gz", x)
        _write_idx(root / f"{split}-labels-idx1-ubyte.gz", y)
    return root


def test_evaluate_reproduces_a_one_process_cnn_run(run_cli, tmp_path):
    data = fake_fashion_mnist(tmp_path / "fm")
    out = tmp_path / "run"
    code, stdout, err = run_cli("train", "--data", "fashion-mnist", "--data-path", str(data), "--backbone", "cnn",
                                "--dim", "8", "--epochs", "1", "--batch-size", "16", "--out", str(out), "--json")  # fmt: skip
    assert code == 0, err
    recorded = json.loads(stdout)["test_top1"]
    code, stdout, err = run_cli("evaluate", str(out), "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["recorded_test_top1"] == recorded
    assert abs(result["test_top1"] - recorded) < 0.01 and result["test_samples"] == 40
    code, _, err = run_cli("evaluate", str(tmp_path / "nothing"))
    assert code == 1 and "no checkpoint" in err and "Traceback" not in err


def _features(path, seed=0):
    """A small .npz of 10 separable classes (d = 8, c = 10 is in the shipped bank)."""
    y = np.repeat(np.arange(10), 12)
    np.savez(path, X=np.random.default_rng(seed).standard_normal((120, 16)) + 3 * np.eye(16)[y], y=y)
    return str(path)


def test_resume_refuses_any_changed_setting_by_name(run_cli, tmp_path):
    out = tmp_path / "run"
    data = _features(tmp_path / "a.npz")
    base = ("train", "--data", "features", "--dim", "8", "--batch-size", "16", "--out", str(out), "--json")
    assert run_cli(*base, "--data-path", data, "--epochs", "1")[0] == 0
    for extra, named in (
        (("--lr", "0.05"), "lr=0.1 (now 0.05)"),
        (("--imbalance", "0.5"), "imbalance=None (now 0.5)"),
        (("--assign-every", "0.5"), "assign_every=1.0 (now 0.5)"),
        (("--amp", "bf16"), "amp='off' (now 'bf16')"),
        (("--loss", "ipm"), "loss='ce' (now 'ipm')"),
        (("--data-path", _features(tmp_path / "b.npz", seed=1)), "b.npz"),
    ):
        extra = extra if "--data-path" in extra else (*extra, "--data-path", data)
        code, _, err = run_cli(*base, "--epochs", "2", "--resume", *extra)
        assert code == 1 and named in err and "Traceback" not in err, (extra, err)
    code, stdout, err = run_cli(*base, "--data-path", data, "--epochs", "2", "--resume")  # only the length may change
    assert code == 0, err
    assert [h["epoch"] for h in json.loads(stdout)["history"]] == [1, 2]


def test_a_rerun_never_overwrites_an_earlier_run(run_cli, tmp_path):
    out = tmp_path / "run"
    args = ("train", "--data", "features", "--data-path", _features(tmp_path / "a.npz"), "--dim", "8",
            "--batch-size", "16", "--epochs", "1", "--json", "--out")  # fmt: skip
    assert run_cli(*args, str(out))[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, err = run_cli(*args, str(out))
    assert code == 1 and "refusing to overwrite the earlier run" in err and "--resume" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (tmp_path / "empty").mkdir()  # a folder without a run is fine
    assert run_cli(*args, str(tmp_path / "empty"))[0] == 0


def test_amp_bf16_trains_under_autocast_on_cpu():
    trainer, data = _tiny(epochs=2, amp="bf16")
    seen = []
    trainer.model.backbone.register_forward_hook(lambda m, i, o: seen.append(o.dtype) if m.training else None)
    result = trainer.fit(data)
    assert seen and set(seen) == {torch.bfloat16}
    assert result.final["test_top1"] > 3 * 100 / 12 and np.isfinite(result.history[-1].train_loss)
    with pytest.raises(InvalidInputError, match="fp16 needs a CUDA device"):
        _tiny(epochs=1, amp="fp16")


def test_resume_keeps_the_initial_assignment_and_leaves_a_finished_run_alone(run_cli, tmp_path):
    out = tmp_path / "run"
    args = ("train", "--data", "features", "--data-path", _features(tmp_path / "a.npz"), "--dim", "8",
            "--batch-size", "16", "--out", str(out), "--json")  # fmt: skip
    code, stdout, err = run_cli(*args, "--epochs", "1")
    assert code == 0, err
    first = json.loads(stdout)
    code, stdout, err = run_cli(*args, "--epochs", "2", "--resume")
    assert code == 0, err
    resumed = json.loads(stdout)
    for key in ("initial_assignment_changes", "initial_assignment_seconds"):
        assert resumed[key] == first[key]
    assert resumed["initial_assignment_seconds"] > 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, stdout, err = run_cli(*args, "--epochs", "2", "--resume")  # nothing left to train
    assert code == 0 and "already trained all 2 epochs" in err, err
    assert json.loads(stdout) == resumed
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_evaluate_admits_near_tie_flips_and_names_the_causes_of_a_real_difference(run_cli, tmp_path):
    data = fake_fashion_mnist(tmp_path / "fm", n_test=400)
    out = tmp_path / "run"
    code, stdout, err = run_cli("train", "--data", "fashion-mnist", "--data-path", str(data), "--backbone", "cnn",
                                "--dim", "8", "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--out", str(out), "--json")  # fmt: skip
    assert code == 0, err
    recorded = json.loads(stdout)["test_top1"]
    metrics = json.loads((out / "metrics.json").read_text())
    # the run says it trained on a GPU this machine lacks: scored on the CPU, and said so
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    state["device"] = "cuda:7"
    torch.save(state, out / "checkpoint.pt")
    one_flip = {**metrics, "test_top1": recorded + 100 / 400}  # a near-tie scored the other way
    (out / "metrics.json").write_text(json.dumps(one_flip))
    code, stdout, err = run_cli("evaluate", str(out), "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["device"] == "cpu" and result["trained_device"] == "cuda:7" and "cuda:7" in err
    assert result["test_top1"] == recorded
    (out / "metrics.json").write_text(json.dumps({**metrics, "test_top1": recorded + 10 * 100 / 400}))
    code, _, err = run_cli("evaluate", str(out))
    assert code == 1 and "Traceback" not in err
    assert "10 of 400 test samples apart" in err and "another device (trained on cuda:7, scored on cpu)" in err
    assert "another model" in err and "other data files" in err
