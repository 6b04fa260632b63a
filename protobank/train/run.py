"""One training job from command-line style options: data, prototypes, model, fit, files."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._version import __version__
from ..errors import InvalidInputError, ProtobankError
from ..prototypes import Prototypes
from .data import Dataset, load_dataset, long_tail
from .distributed import DistContext, check_same_everywhere
from .head import SoftmaxHead
from .head_options import build_prototype_head
from .models import build_backbone
from .trainer import Classifier, EpochRecord, TrainConfig, Trainer

HEADS = ("prototypes", "softmax")
#: RunOptions that do not decide a run's numbers: where it goes, how it starts, how fast data
#: loads; the prototypes are identified by their content hash instead of how they were named.
NOT_SETTINGS = ("out", "resume", "config", "prototypes", "workers", "allow_long")
RUN_FILES = ("checkpoint.pt", "metrics.json")


class RunFinished(ProtobankError):
    """``--resume`` of a run that has trained all its epochs: its files are left as they are;
    ``metrics`` holds its metrics.json."""

    def __init__(self, out: Path, epochs: int, metrics: dict[str, Any]) -> None:
        super().__init__(
            f"the run in {out} has already trained all {epochs} epochs; its files are left as they are "
            "(pass a larger --epochs to train it further)"
        )
        self.metrics = metrics


@dataclass
class RunOptions:
    data: str = "synthetic"
    data_path: str | None = None
    dim: int = 10
    prototypes: str | None = None  # None: the bank's default for (dim, c); a file; a method; a sha256 prefix
    head: str = "prototypes"
    backbone: str | None = None  # None: cnn for images, mlp for vectors
    imbalance: float | None = None
    image_size: int = 32  # image folders: the side of the crops the model sees
    workers: int = 4  # image folders: DataLoader processes decoding images
    augment: str = "auto"  # crop | resized-crop | none | auto (the data's default; settings hold the resolved one)
    flip: bool | None = None  # None: the data's default
    out: Path | None = None
    resume: bool = False
    allow_long: bool = False  # generate missing prototypes even where the run is predicted to be long
    config: TrainConfig = field(default_factory=TrainConfig)


def resolve_prototypes(spec: str | None, d: int, c: int, *, allow_long: bool = False) -> Prototypes:
    """The prototypes to train against: a file, a bank method, a pinned sha256, or the default
    (generated into the cache where missing; a run predicted to be long only with ``allow_long``)."""
    from ..lookup import load, looks_like_pin

    if spec is not None and Path(spec).is_file():
        path = Path(spec)
        if path.suffix.lower() in (".h5", ".hdf5"):
            from ..artifact import read

            p = read(path)
        else:
            from ..foreign import read_matrix

            p = Prototypes(read_matrix(path), method="file", source=path)
        if (p.d, p.c) != (d, c):
            raise InvalidInputError(f"{spec} holds prototypes for d={p.d}, c={p.c}, but this run needs d={d}, c={c}")
        return p
    if spec is not None and looks_like_pin(spec):
        return load(d, c, sha256=spec)
    return load(d, c, method=spec, generate=True, allow_long=allow_long)


def run_settings(opts: RunOptions) -> dict[str, Any]:
    """The data and model options that decide a run's numbers (checked on resume)."""
    settings = {k: v for k, v in asdict(opts).items() if k not in NOT_SETTINGS}
    if settings.get("data_path") is not None:
        settings["data_path"] = str(Path(settings["data_path"]).resolve())
    return settings


def check_run_folder(out: Path | None, resume: bool) -> None:
    """Never overwrite an earlier run: without ``resume`` a folder holding one is refused."""
    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out} exists and is not a folder")
    if not resume:
        found = [name for name in RUN_FILES if (out / name).exists()]
        if found:
            raise InvalidInputError(
                f"refusing to overwrite the earlier run in {out} (it holds {', '.join(found)}): "
                "pass --resume to continue it, or another --out for a new run"
            )


def prepare_data(opts: RunOptions) -> Dataset:
    """The run's dataset, long-tailed when ``opts.imbalance`` says so."""
    data = load_dataset(opts.data, opts.data_path, seed=opts.config.seed, image_size=opts.image_size, workers=opts.workers,
                        augment=opts.augment, flip=opts.flip)  # fmt: skip
    if opts.imbalance is not None:
        data = long_tail(data, opts.imbalance, seed=opts.config.seed)
    return data


def default_backbone(data: Dataset) -> str:
    return "cnn" if data.is_image else "mlp"


def build_model(opts: RunOptions, data: Dataset, prototypes: Prototypes | None) -> Classifier:
    backbone = build_backbone(opts.backbone or default_backbone(data), data.input_shape, opts.dim)
    if opts.config.feature_bn:  # standardise each feature over the batch: centred directions
        backbone = nn.Sequential(backbone, nn.BatchNorm1d(opts.dim, affine=False))
    if opts.head == "softmax":
        return Classifier(backbone, SoftmaxHead(opts.dim, data.num_classes))
    assert prototypes is not None
    return Classifier(backbone, build_prototype_head(prototypes, opts.config.head_options()))


def run_training(
    opts: RunOptions,
    ctx: DistContext,
    *,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> dict[str, Any]:
    """Train as ``opts`` say; rank 0 writes metrics.json, checkpoint.pt and curves.png."""
    cfg = opts.config
    cfg.check()
    if opts.head not in HEADS:
        raise InvalidInputError(f"--head must be prototypes or softmax, got {opts.head!r}")
    if opts.dim < 1:
        raise InvalidInputError(f"--dim must be positive, got {opts.dim}")
    check_run_folder(opts.out, opts.resume)
    data = prepare_data(opts)
    opts = replace(opts, augment=data.augmentation.recipe, flip=data.augmentation.flip)  # recorded resolved
    prototypes = None
    if opts.head == "prototypes":
        prototypes = resolve_prototypes(opts.prototypes, opts.dim, data.num_classes, allow_long=opts.allow_long)
        check_same_everywhere(ctx, prototypes.content_sha256, "the prototypes' content hash")
    torch.manual_seed(cfg.seed)
    model = build_model(opts, data, prototypes)
    trainer = Trainer(model, cfg, ctx, settings=run_settings(opts))
    checkpoint = opts.out / "checkpoint.pt" if opts.out is not None else None
    if opts.resume:
        if checkpoint is None or not checkpoint.is_file():
            raise InvalidInputError(f"--resume: no checkpoint at {checkpoint}")
        trainer.load(checkpoint)
        metrics_file = checkpoint.parent / "metrics.json"
        if trainer.epoch >= trainer.config.epochs and metrics_file.is_file():
            raise RunFinished(checkpoint.parent, trainer.epoch, json.loads(metrics_file.read_text()))
    result = trainer.fit(data, on_step=on_step, on_epoch=on_epoch, checkpoint=checkpoint)
    metrics = {
        **result.final,
        "data": data.name + (" (synthetic)" if data.synthetic else ""),
        "num_classes": data.num_classes,
        "train_samples": int(len(data.y_train)),
        "test_samples": int(len(data.y_test)),
        "dim": opts.dim,
        "head": opts.head,
        "backbone": opts.backbone or default_backbone(data),
        "imbalance": opts.imbalance,
        "augment": opts.augment,
        "flip": opts.flip,
        "prototypes_sha256": None if prototypes is None else prototypes.content_sha256,
        "prototypes_method": None if prototypes is None else prototypes.method,
        "config": asdict(trainer.config),
        "history": [asdict(r) for r in result.history],
        "world_size": ctx.world_size,
        "device": str(ctx.device),
        "versions": {"protobank": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if ctx.is_main and opts.out is not None:
        opts.out.mkdir(parents=True, exist_ok=True)
        (opts.out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        from ..plot import training_curves

        training_curves(result.history, opts.out / "curves.png", title=f"{metrics['data']}, d={opts.dim}, {opts.head} head, {trainer.config.assign} assignment")
    return metrics
