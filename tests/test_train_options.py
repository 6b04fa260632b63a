"""The training options that close the prototype head's gap to softmax at d << c:
learning-rate warm-up, batch norm on the features, the cross-entropy scale."""

from __future__ import annotations

import json
import math

import pytest
import torch

import protobank
from protobank.errors import InvalidInputError
from protobank.train.data import synthetic_mixture
from protobank.train.distributed import DistContext
from protobank.train.head import SoftmaxHead
from protobank.train.models import build_backbone
from protobank.train.run import RunOptions, build_model, run_training
from protobank.train.trainer import Classifier, TrainConfig, Trainer


def _lrs(config: TrainConfig, steps: int, total: int, warmup: int) -> list[float]:
    trainer = Trainer(Classifier(build_backbone("mlp", (4,), 3), SoftmaxHead(3, 5)), config)
    out = []
    for step in range(steps):
        trainer._set_lr(step, total, warmup)
        out.append(trainer.optimizer.param_groups[0]["lr"])
    return out


def test_warmup_ramps_linearly_then_follows_the_cosine():
    cfg = TrainConfig(lr=0.2)
    lrs = _lrs(cfg, 20, total=20, warmup=4)
    cosine = [0.1 * (1 + math.cos(math.pi * s / 20)) for s in range(20)]
    assert lrs[:4] == pytest.approx([cosine[s] * (s + 1) / 4 for s in range(4)])
    assert lrs[4:] == pytest.approx(cosine[4:])
    assert _lrs(cfg, 20, total=20, warmup=0) == pytest.approx(cosine)


@pytest.mark.parametrize(
    "field, value, message",
    [("warmup_epochs", -1.0, "--warmup-epochs"), ("scale", 0.0, "--scale"), ("scale", math.nan, "--scale"), ("margin", 1.5, "--margin"), ("long_tail", "yes", "--long-tail")],
)
def test_bad_option_values_are_refused(field, value, message):
    with pytest.raises(InvalidInputError, match=message):
        TrainConfig(**{field: value}).check()


def test_feature_bn_standardises_what_every_head_sees():
    data = synthetic_mixture(super_classes=2, classes_per_super=3, dim=8, train_per_class=40, test_per_class=10)
    for head in ("prototypes", "softmax"):
        opts = RunOptions(data="synthetic", dim=4, head=head, config=TrainConfig(feature_bn=True))
        model = build_model(opts, data, protobank.load(d=4, c=6, method="random", generate=True))
        model.train()
        features, _ = model((data.x_train - data.x_train.mean(0)) / data.x_train.std(0))
        assert torch.allclose(features.mean(0), torch.zeros(4), atol=1e-5)
        assert torch.allclose(features.var(0, unbiased=False), torch.ones(4), atol=1e-3)


def test_feature_bn_and_warmup_train_end_to_end_and_are_recorded():
    cfg = TrainConfig(epochs=3, batch_size=64, lr=0.05, loss="ce", warmup_epochs=1, feature_bn=True)
    opts = RunOptions(data="synthetic", dim=6, prototypes="random", config=cfg)  # random: no optimiser time
    metrics = run_training(opts, DistContext())
    assert metrics["test_top1"] > 3 * 100 / 20  # well above chance (20 classes)
    assert metrics["config"]["feature_bn"] is True and metrics["config"]["warmup_epochs"] == 1


def test_cli_passes_the_new_options(run_cli, tmp_path):
    code, out, err = run_cli(
        "train", "--dim", "6", "--epochs", "1", "--batch-size", "64", "--loss", "ce", "--scale", "8",
        "--warmup-epochs", "0.5", "--feature-bn", "--prototypes", "random", "--out", str(tmp_path / "r"), "--json",
    )  # fmt: skip
    assert code == 0, err
    config = json.loads(out)["config"]
    assert (config["scale"], config["warmup_epochs"], config["feature_bn"]) == (8.0, 0.5, True)
    code, _, err = run_cli("train", "--warmup-epochs", "-2", "--out", str(tmp_path / "s"))
    assert code == 1 and "--warmup-epochs" in err and "Traceback" not in err


def test_train_command_defaults_are_the_config_defaults():
    """`protobank train` spells each TrainConfig default a second time (the CLI must not import
    torch to print its help), or leaves it unset (None: TrainConfig's); the two must never
    drift apart."""
    import inspect
    from dataclasses import fields

    from protobank.cli.train import train

    options = {name: p.default.default for name, p in inspect.signature(train).parameters.items()}
    config = TrainConfig()
    shared = [f.name for f in fields(config) if f.name in options]
    assert {"loss", "scale", "learn_scale", "long_tail", "epochs", "lr", "assign", "feature_bn"} <= set(shared)
    spelled = [n for n in shared if options[n] is not None]
    assert {"epochs", "lr", "assign", "feature_bn"} <= set(spelled)
    assert {n: options[n] for n in spelled} == {n: getattr(config, n) for n in spelled}


def test_launcher_forwards_every_option_in_a_form_the_command_parses():
    """--nproc-per-node re-runs the command once per rank with the same options: every flag it
    forwards (booleans without a --no- form among them) must parse back to the same values."""
    import inspect

    import typer

    from protobank.cli import app
    from protobank.cli.train import _forwarded_args, train

    command = typer.main.get_command(app).commands["train"]
    for flags in (True, False):
        values = {name: p.default.default for name, p in inspect.signature(train).parameters.items()}
        values.update(allow_long=flags, resume=flags, learn_scale=flags, bias=not flags, feature_bn=flags, scale="adacos",
                      long_tail="logit-adjust", margin=0.1, out="runs/x", nproc_per_node=2)  # fmt: skip
        ctx = command.make_context("train", _forwarded_args(values))
        for name in ("allow_long", "resume", "learn_scale", "bias", "feature_bn", "scale", "long_tail", "margin"):
            assert ctx.params[name] == values[name], name
