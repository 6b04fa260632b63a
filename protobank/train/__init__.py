"""The training companion (imports torch): fixed prototypes, the dynamic label-to-prototype
assignment of Saadabadi et al. (CVPR 2024, eq. 6-9), and the pieces to use them in any loop.

>>> head = PrototypeHead(protobank.load(d=64, c=100))      # buffers: prototypes, assignment
>>> assigner = DynamicAssigner(head, every=len(loader))     # eq. 8 every step, eq. 9 per epoch
>>> loss = ipm_loss(features, labels, head)                 # eq. 6 (or prototype_ce_loss)
>>> assigner.step(features, labels)                         # any number of processes
"""

from .assign import ClassMeanTracker, assign_labels
from .assigner import DynamicAssigner
from .data import Dataset, load_dataset, long_tail, synthetic_mixture
from .distributed import DistContext, init_distributed
from .head import PrototypeHead, SoftmaxHead
from .loss import ipm_loss, prototype_ce_loss
from .models import build_backbone
from .rescore import evaluate_run
from .trainer import Classifier, TrainConfig, Trainer

__all__ = [
    "ClassMeanTracker",
    "Classifier",
    "Dataset",
    "DistContext",
    "DynamicAssigner",
    "PrototypeHead",
    "SoftmaxHead",
    "TrainConfig",
    "Trainer",
    "assign_labels",
    "build_backbone",
    "evaluate_run",
    "init_distributed",
    "ipm_loss",
    "load_dataset",
    "long_tail",
    "prototype_ce_loss",
    "synthetic_mixture",
]
