"""Re-scoring a finished or interrupted run from its checkpoint, and whether the result agrees
with what its metrics.json records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import InvalidInputError, ProtobankError
from ..prototypes import Prototypes
from .checkpoint import read_checkpoint
from .config import TrainConfig
from .distributed import DistContext
from .evaluation import accuracies
from .run import RunOptions, build_model, prepare_data
from .trainer import Trainer

#: A re-scored top-1 agrees with metrics.json when the two differ by at most this many test
#: samples or this many percentage points, whichever is more: another device's kernels (TF32
#: convolutions, other summation orders) flip the odd near-tie, and nothing more.
AGREEMENT_SAMPLES = 3
AGREEMENT_POINTS = 0.05


def evaluate_run(run_dir: Path, device: str | torch.device | None = None) -> dict[str, Any]:
    """Re-score a run's saved checkpoint on its test set, in one process.

    The data and model are rebuilt from the settings in ``run_dir/checkpoint.pt``, the
    weights, prototypes and assignment loaded from it, and the test set scored in the same
    batches as in training. ``device`` ``None``: the device the run trained on when this
    machine has it, else the CPU. Returns ``test_top1`` and ``test_balanced_top1`` (percent),
    ``device`` and ``trained_device``, and ``recorded_test_top1`` / ``recorded_test_samples``
    from ``run_dir/metrics.json`` when the run finished at the checkpoint's epoch.
    """
    run_dir = Path(run_dir)
    path = run_dir / "checkpoint.pt"
    if not path.is_file():
        raise InvalidInputError(f"no checkpoint at {path}: pass the --out folder of a training run")
    state = read_checkpoint(path, "cpu")
    metrics_file = run_dir / "metrics.json"
    recorded = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    trained = state.get("device") or recorded.get("device")
    chosen = torch.device(device) if device not in (None, "auto") else _here_or_cpu(trained)
    config = TrainConfig(**{**state["config"], "amp": "off"})
    opts = RunOptions(**state["settings"], config=config)
    data = prepare_data(opts)
    prototypes = None
    if opts.head == "prototypes":  # the weights come from the checkpoint; only the shape matters here
        vectors = state["model"]["head.prototypes"]
        prototypes = Prototypes(vectors.double().cpu().numpy(), method="checkpoint", source=path)
    model = build_model(opts, data, prototypes)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise ProtobankError(f"checkpoint {path} does not fit the model its settings describe: {e}") from None
    trainer = Trainer(model, config, DistContext(device=chosen))
    trainer.normalize = data.normalizer()
    top1, balanced, _ = accuracies(trainer.predict_counts(data))
    result: dict[str, Any] = {
        "run": str(run_dir), "epoch": int(state["epoch"]), "test_top1": top1, "test_balanced_top1": balanced,
        "test_samples": int(len(data.y_test)), "device": str(chosen), "trained_device": trained,
        "recorded_test_top1": None, "recorded_test_samples": None,
    }  # fmt: skip
    # compare only with the metrics of the epoch the checkpoint holds
    if recorded.get("history") and recorded["history"][-1]["epoch"] == result["epoch"]:
        result["recorded_test_top1"] = recorded["test_top1"]
        result["recorded_test_samples"] = recorded.get("test_samples")
    return result


def disagreement(result: dict[str, Any]) -> str | None:
    """Why a re-scored ``result`` of :func:`evaluate_run` is not what metrics.json records, or
    ``None`` when it agrees (within :data:`AGREEMENT_SAMPLES` / :data:`AGREEMENT_POINTS`) or
    nothing was recorded."""
    recorded = result["recorded_test_top1"]
    if recorded is None:
        return None
    n = result["test_samples"]
    apart = abs(result["test_top1"] - recorded)
    if apart <= max(AGREEMENT_POINTS, 100 * AGREEMENT_SAMPLES / n) + 1e-9:
        return None
    causes = []
    if result["recorded_test_samples"] not in (None, n):
        causes.append(f"other data files (the test set has {n} samples now, {result['recorded_test_samples']} then)")
    if result["trained_device"] not in (None, result["device"]):
        causes.append(f"another device (trained on {result['trained_device']}, scored on {result['device']})")
    causes.append("another model than the one metrics.json describes")
    if not causes[0].startswith("other data files"):
        causes.append("other data files at the same path")
    return (
        f"the checkpoint scores {result['test_top1']:.4f} % top-1, metrics.json records {recorded:.4f} % "
        f"(about {round(apart * n / 100)} of {n} test samples apart, more than near-ties explain); "
        f"possible causes: {'; '.join(causes)}"
    )


def _here_or_cpu(trained: str | None) -> torch.device:
    """The device a run trained on when this machine has it, else the CPU."""
    if trained is None:
        return torch.device("cpu")
    want = torch.device(trained)
    if want.type == "cuda" and torch.cuda.is_available() and (want.index or 0) < torch.cuda.device_count():
        return want
    if want.type == "mps" and torch.backends.mps.is_available():
        return want
    return torch.device("cpu")
