"""``protobank train``: train a classifier on fixed prototypes with the dynamic assignment.

Every option has a spelling that torchrun's own parser leaves alone (``--dim``, not only
``--d``), so ``torchrun --nproc-per-node N -m protobank train ...`` works as written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from ._app import app
from ._common import err_console, fmt, out_console, print_json, show_progress


@app.command()
def train(
    data: str = typer.Option("synthetic", help="fashion-mnist, cifar10, cifar100, imagefolder, features (.npz: X, y[, split]) or synthetic."),
    data_path: Optional[Path] = typer.Option(None, "--data-path", help="Folder or file of the data (fashion-mnist default: /usr/share/datasets/fashion-mnist)."),
    dim: int = typer.Option(10, "--dim", "--d", help="Feature dimension d (use --dim under torchrun)."),
    prototypes: Optional[str] = typer.Option(None, help="A prototype file, a bank method name or a sha256 prefix; default: the bank's for (d, c)."),
    head: str = typer.Option("prototypes", help="prototypes (fixed, with an assignment) or softmax (learned linear layer)."),
    assign: str = typer.Option("dynamic", help="dynamic (Hungarian re-assignment, eq. 9) or static (fixed label i -> prototype i)."),
    assign_every: float = typer.Option(1.0, "--assign-every", help="Epochs between assignment updates (0.25: four per epoch)."),
    assign_init: str = typer.Option("means", "--assign-init", help="First assignment: means (untrained network's class means) or identity (label i -> prototype i)."),
    loss: Optional[str] = typer.Option(None, help="ce (cross-entropy on every label's scaled cosine, O(batch c d); the default) or ipm (the paper's eq. 6: only the assigned prototype, O(batch d)). Which when: docs/train.md."),
    scale: Optional[str] = typer.Option(None, help="--loss ce: scale of the cosines, a number, adacos (sqrt(2) ln(c-1); the default) or norm (dot product with the raw feature)."),
    learn_scale: Optional[bool] = typer.Option(None, "--learn-scale/--no-learn-scale", help="--loss ce: learn the scale (as log s, no weight decay), starting from --scale and never below it; default: on (off under --scale norm)."),
    bias: Optional[bool] = typer.Option(None, "--bias/--no-bias", help="--loss ce: a learned per-label bias, zero at the start."),
    margin: Optional[float] = typer.Option(None, help="--loss ce: cosine margin taken off the true label's cosine in training (CosFace), in [0, 1)."),
    margin_ramp_epochs: Optional[float] = typer.Option(None, "--margin-ramp-epochs", help="Ramp --margin linearly from 0 over this many epochs (0: the full margin from the start)."),
    long_tail: Optional[str] = typer.Option(None, "--long-tail", help="logit-adjust (the default under ce and for softmax) adds tau x log(training prior) to the logits in the loss (balanced softmax at tau 1; nothing changes when the classes are balanced); prediction unchanged. none: plain cross-entropy."),
    tau: Optional[float] = typer.Option(None, help="Strength of --long-tail logit-adjust."),
    warmup_epochs: float = typer.Option(0.0, "--warmup-epochs", help="Linear learning-rate warm-up, in epochs, before the cosine decay."),
    feature_bn: bool = typer.Option(False, "--feature-bn/--no-feature-bn", help="Batch norm (no affine) on the d features before the head."),
    backbone: Optional[str] = typer.Option(None, help="resnet32, cnn, mlp, torchvision:NAME or timm:NAME (random init, classifier replaced by a d-dim projection); default: cnn for images, mlp for vectors."),
    epochs: int = typer.Option(10, help="Training epochs."),
    batch_size: int = typer.Option(128, "--batch-size", help="Global batch size (split over processes)."),
    lr: float = typer.Option(0.1, help="Peak SGD learning rate (cosine schedule)."),
    seed: int = typer.Option(0, min=0, help="Seed of initialisation, data order and augmentation."),
    amp: str = typer.Option("off", help="Mixed precision: off, bf16 (CPU or CUDA) or fp16 (CUDA, with a gradient scaler)."),
    device: str = typer.Option("auto", help="auto (CUDA when available), cpu, cuda or cuda:N."),
    imbalance: Optional[float] = typer.Option(None, help="Long-tail ratio rho in (0, 1]: class i keeps n_max * rho^(i/(c-1)) samples."),
    image_size: int = typer.Option(32, "--image-size", help="imagefolder: side of the crops the model sees (224 for ImageNet-style training)."),
    augment: str = typer.Option("auto", "--augment", help="Training augmentation of images: crop (pad 1/8 of the side, random crop: small images), resized-crop (random 8-100 % box: photos), none, or auto (crop up to 64 px, resized-crop above; CIFAR: crop; Fashion-MNIST: none)."),
    flip: Optional[bool] = typer.Option(None, "--flip/--no-flip", help="Random horizontal flips of training images; default: on where auto augments (image folders, CIFAR). Off for characters."),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, help="imagefolder: DataLoader processes decoding images, per training process (0: none); default: min(4, this process's share of the CPU cores)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for metrics.json, checkpoint.pt and curves.png; default runs/<name>."),
    resume: bool = typer.Option(False, "--resume", help="Continue from --out/checkpoint.pt."),
    allow_long: bool = typer.Option(False, "--allow-long", help="Generate missing prototypes even where the run is predicted to be long (else refused, naming the forecast)."),
    nproc_per_node: int = typer.Option(1, "--nproc-per-node", min=1, help="Launch this many data-parallel processes here (torch.distributed)."),
    json_output: bool = typer.Option(False, "--json", help="Print the final metrics as one JSON document."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr (TTY only)."),
) -> None:
    """Train with fixed prototypes and the dynamic label-to-prototype assignment."""
    options = dict(locals())
    from ..train.allocator import fix_mmap_threshold
    from ..train.distributed import end_children_with_this_process, end_with_launcher, init_distributed, launched_by_torchrun, shutdown
    from ..train.images import default_workers
    from ..train.run import RunFinished, RunOptions, check_run_folder, run_training
    from ..train.head_options import parse_scale
    from ..train.trainer import TrainConfig

    if out is None:
        out = Path("runs") / f"{data}-d{dim}-{head}-{assign if head == 'prototypes' else 'softmax'}-seed{seed}"
    check_run_folder(out, resume)
    if nproc_per_node > 1 and not launched_by_torchrun():
        options["out"] = out
        _launch(nproc_per_node, _forwarded_args(options))
        return
    head_settings = dict(loss=loss, scale=None if scale is None else parse_scale(scale), learn_scale=learn_scale, bias=bias,
                         margin=margin, margin_ramp_epochs=margin_ramp_epochs, long_tail=long_tail, tau=tau)  # fmt: skip
    config = TrainConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, assign=assign, assign_every=assign_every,
        assign_init=assign_init, warmup_epochs=warmup_epochs, feature_bn=feature_bn, seed=seed, amp=amp,
        **{k: v for k, v in head_settings.items() if v is not None},  # unset: TrainConfig's default
    )
    opts = RunOptions(
        data=data, data_path=str(data_path) if data_path else None, dim=dim, prototypes=prototypes, head=head,
        backbone=backbone, imbalance=imbalance, image_size=image_size, augment=augment, flip=flip, workers=default_workers() if workers is None else workers, out=out, resume=resume,
        allow_long=allow_long, config=config,
    )  # fmt: skip
    if launched_by_torchrun():
        end_with_launcher()  # no rank outlives its launcher
    end_children_with_this_process()  # nor a data worker its rank
    fix_mmap_threshold()  # peak memory flat in the number of steps
    ctx = init_distributed(device)
    try:
        with _EpochProgress(ctx.is_main and show_progress(json_output, progress), epochs) as bar:
            metrics = run_training(opts, ctx, on_step=bar.step, on_epoch=bar.epoch_done)
    except RunFinished as finished:
        metrics = finished.metrics
        if ctx.is_main:
            err_console().print(str(finished))
    except BaseException:
        shutdown(ctx, failed=True)
        raise
    shutdown(ctx)
    if not ctx.is_main:
        return
    if json_output:
        print_json(metrics)
    else:
        _print_summary(metrics, out)


def _forwarded_args(values: dict[str, Any]) -> list[str]:
    """The same command for each worker, minus --nproc-per-node."""
    args: list[str] = []
    for name, value in values.items():
        if name == "nproc_per_node" or value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if name == "json_output":
            args += ["--json"] if value else []
        elif name in ("resume", "allow_long"):  # flags without a --no- form
            args += [flag] if value else []
        elif isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        else:
            args += [flag, str(value)]
    return args


def _launch(nproc: int, args: list[str]) -> None:
    """Start ``nproc`` workers on this machine through torch.distributed's launcher API."""
    import logging
    import os
    import uuid

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from ..errors import ProtobankError
    from ..train.distributed import LAUNCHER_PID_VARIABLE

    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=uuid.uuid4().hex,
        rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.2,
    )  # fmt: skip
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # we report failures
    # share the cores instead of oversubscribing them (torchrun does the same)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    os.environ[LAUNCHER_PID_VARIABLE] = str(os.getpid())  # the ranks end when this process does
    try:
        elastic_launch(config, sys.executable)("-m", "protobank", "train", *args)
    except ChildFailedError as exc:
        failed = ", ".join(f"rank {rank} (exit code {f.exitcode})" for rank, f in sorted(exc.failures.items()))
        raise ProtobankError(f"training process {failed} failed; see the errors above") from None
    finally:  # only this launch's ranks may see it: another launcher's ranks would take it for theirs
        del os.environ[LAUNCHER_PID_VARIABLE]


class _EpochProgress:
    """A rich progress bar per epoch on stderr, or nothing."""

    def __init__(self, enabled: bool, epochs: int) -> None:
        self.enabled, self.epochs, self.current = enabled, epochs, 1
        self.progress: Any = None

    def __enter__(self) -> "_EpochProgress":
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=err_console(), transient=False,
            )  # fmt: skip
            self.progress.start()
            self.task = self.progress.add_task(f"epoch 1/{self.epochs}", total=None)
        return self

    def step(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=done, total=total)

    def epoch_done(self, record: Any) -> None:
        if self.progress is not None:
            self.progress.update(
                self.task,
                description=f"epoch {record.epoch}/{self.epochs}  test {record.test_top1:.2f}%  moved {record.assignment_changes}",
            )
            if record.epoch < self.epochs:
                self.task = self.progress.add_task(f"epoch {record.epoch + 1}/{self.epochs}", total=None)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _print_summary(m: dict[str, Any], out: Path) -> None:
    cfg = m["config"]
    title = f"protobank train: {m['data']}, d={m['dim']}, {m['head']} head" + (
        f", {cfg['assign']} assignment, {cfg['loss']} loss" if m["head"] == "prototypes" else ""
    )
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("test top-1", f"{fmt(m['test_top1'], 2)} %")
    table.add_row("balanced top-1", f"{fmt(m['test_balanced_top1'], 2)} %")
    for part in ("many", "medium", "few"):
        key = f"test_{part}_shot_top1"
        if key in m:
            table.add_row(f"{part}-shot top-1", f"{fmt(m[key], 2)} %" if m[key] is not None else "- (no such classes)")
    if m["head"] == "prototypes" and cfg["assign"] == "dynamic":
        table.add_row("assignment changes per epoch", " ".join(str(v) for v in m["assignment_changes"]))
    share = 100 * m["assignment_seconds"] / m["train_seconds"] if m["train_seconds"] else 0.0
    table.add_row("time", f"training {m['train_seconds']:.1f} s, of which assignment {m['assignment_seconds']:.3f} s ({share:.2f} %)")
    if "related_prototype_cosine" in m:
        r = m["related_prototype_cosine"]
        table.add_row("prototype cosine", f"same super-class {r['same_super_class']:+.3f}, different {r['different_super_class']:+.3f}")
    table.add_row("processes", f"{m['world_size']} on {m['device']}")
    table.add_row("files", f"{out}/metrics.json, checkpoint.pt, curves.png")
    out_console().print(table)
