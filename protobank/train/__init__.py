"""The training companion (imports torch): fixed prototypes, the dynamic label-to-prototype
assignment of Saadabadi et al. (CVPR 2024, eq. 6-9), and the pieces to use them in any loop.

>>> options = HeadOptions()                                  # the default; or loss="ipm" (eq. 6), scale=...
>>> head = build_prototype_head(protobank.load(d=64, c=100), options)  # buffers: prototypes, assignment
>>> loss_fn = HeadLoss(head, options)
>>> assigner = DynamicAssigner(head, every=len(loader), ctx=init_distributed())  # eq. 8, eq. 9 per epoch
>>> loss = loss_fn(features, logits, labels)                # logits: head(features), or None
>>> assigner.step(features, labels)                         # any number of processes
"""

from .assign import ClassMeanTracker, assign_labels
from .assigner import DynamicAssigner
from .data import Dataset, load_dataset, long_tail, synthetic_mixture
from .distributed import DistContext, init_distributed
from .head import PrototypeHead, SoftmaxHead, decay_groups
from .head_options import HeadOptions, adacos_scale, build_prototype_head
from .loss import HeadLoss, ipm_loss, prototype_ce_loss
from .models import build_backbone
from .rescore import evaluate_run
from .trainer import Classifier, TrainConfig, Trainer

__all__ = [
    "ClassMeanTracker",
    "Classifier",
    "Dataset",
    "DistContext",
    "DynamicAssigner",
    "HeadLoss",
    "HeadOptions",
    "PrototypeHead",
    "SoftmaxHead",
    "TrainConfig",
    "Trainer",
    "adacos_scale",
    "assign_labels",
    "build_backbone",
    "build_prototype_head",
    "decay_groups",
    "evaluate_run",
    "init_distributed",
    "ipm_loss",
    "load_dataset",
    "long_tail",
    "prototype_ce_loss",
    "synthetic_mixture",
]
