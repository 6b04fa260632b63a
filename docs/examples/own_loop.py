"""Fixed prototypes and the dynamic assignment in a plain PyTorch training loop.

Runs as is in one process, or data-parallel on CPU or GPUs:

    python docs/examples/own_loop.py --out runs/own-loop
    torchrun --standalone --nproc-per-node 2 docs/examples/own_loop.py --out runs/own-loop

Run it again with the same --out and it continues from the checkpoint. The data are a small
synthetic mixture (protobank.train.synthetic_mixture); put your own Dataset and backbone in.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import protobank
from protobank.train import (
    Classifier,
    DynamicAssigner,
    HeadLoss,
    HeadOptions,
    build_prototype_head,
    init_distributed,
    synthetic_mixture,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/own-loop"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    args = parser.parse_args()

    ctx = init_distributed()  # torchrun's process group (NCCL on GPUs, gloo on CPU), or one process
    distributed, rank, device = ctx.enabled, ctx.rank, ctx.device

    # 10 classes in 16 dimensions, two groups of related ones (synthetic)
    data = synthetic_mixture(super_classes=2, classes_per_super=5, dim=16, train_per_class=100, test_per_class=50)
    train_set = TensorDataset(data.x_train, data.y_train)
    sampler = DistributedSampler(train_set, seed=0) if distributed else None
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True)

    torch.manual_seed(0)  # every rank starts from the same weights
    backbone = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, args.dim)).to(device)
    # the default: cross-entropy on the cosines times a learned scale (from AdaCos's), logit-adjusted
    # by the class counts; other options, e.g. HeadOptions(loss="ipm") for the paper's eq. 6 or
    # HeadOptions(bias=True), need no other change here: a learned scale or bias sits in
    # `classifier` with the backbone
    options = HeadOptions()
    head = build_prototype_head(protobank.load(d=args.dim, c=data.num_classes, generate=True), options).to(device)
    classifier = Classifier(backbone, head)  # forward: (features, logits)
    model = nn.parallel.DistributedDataParallel(classifier) if distributed else classifier
    optimizer = torch.optim.SGD(classifier.parameters(), lr=0.1, momentum=0.9)
    loss_fn = HeadLoss(head, options)
    loss_fn.set_class_counts(torch.bincount(data.y_train, minlength=data.num_classes))  # for long_tail
    # on every rank, with the ranks' context: tracks class means every step, re-assigns per epoch
    assigner = DynamicAssigner(head, every=len(loader), ctx=ctx)

    checkpoint, start = args.out / "checkpoint.pt", 0
    if checkpoint.is_file():  # continue where the last run stopped
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        classifier.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        assigner.load_state_dict(state["assigner"])  # tracker, step count, assignment
        start = state["epoch"]

    for epoch in range(start, args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        model.train()
        for i, (x, y) in enumerate(loader):
            x, y = x.to(device), y.to(device)
            loss_fn.set_progress(epoch + i / len(loader))  # epochs done: the margin's ramp
            features, logits = model(x)
            loss = loss_fn(features, logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            assigner.step(features, y)  # eq. 8 on the global batch; eq. 9 on the cadence
        if rank == 0:
            args.out.mkdir(parents=True, exist_ok=True)
            state = {"model": classifier.state_dict(), "optimizer": optimizer.state_dict(),
                     "assigner": assigner.state_dict(), "epoch": epoch + 1}  # fmt: skip
            torch.save(state, checkpoint)

    model.eval()
    with torch.no_grad():
        predictions = classifier(data.x_test.to(device))[1].argmax(1).cpu()
    top1 = 100 * float((predictions == data.y_test).float().mean())
    report = {"test_top1": top1, "assignment": head.assignment.tolist(), "steps": assigner.steps}
    ranks = [report]
    if distributed:  # one line from rank 0 with every rank's result: they agree unless a rank desynchronised
        ranks = [None] * ctx.world_size
        torch.distributed.all_gather_object(ranks, report)
        torch.distributed.destroy_process_group()
    if rank == 0:
        print(json.dumps({**report, "ranks": ranks}), flush=True)


if __name__ == "__main__":
    main()
