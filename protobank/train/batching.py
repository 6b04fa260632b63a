"""Batching shared by every dataset: the seeded shuffle cut into global batches and ranks'
shares, and the normalisation of stored inputs into model inputs."""

from __future__ import annotations

from collections.abc import Iterator

import torch


class Normalizer:
    """Turns stored inputs into float model inputs: uint8 images scaled to [0, 1], then
    everything standardised by ``mean`` and ``std`` (per channel for images)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, *, image: bool) -> None:
        self.mean, self.std, self.image = mean, std, image

    @classmethod
    def fit(cls, x_train: torch.Tensor) -> Normalizer:
        """The statistics of the training inputs themselves."""
        if x_train.ndim == 4:
            x = x_train.float() / 255.0
            return cls(x.mean(dim=(0, 2, 3)).view(1, -1, 1, 1), x.std(dim=(0, 2, 3)).clamp_min(1e-6).view(1, -1, 1, 1), image=True)
        return cls(x_train.mean(dim=0, keepdim=True), x_train.std(dim=0, keepdim=True).clamp_min(1e-6), image=False)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0 if self.image else x.float()
        return (x - self.mean.to(x.device)) / self.std.to(x.device)


def epoch_batches(
    n: int, batch_size: int, *, seed: int, epoch: int, rank: int = 0, world: int = 1
) -> Iterator[torch.Tensor]:
    """Index batches of one epoch: a seeded shuffle shared by all ranks, full global batches
    only; rank r takes positions r, r + world, ... of each global batch, so the union over
    ranks is exactly the single-process batch."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    for start in range(0, n - batch_size + 1, batch_size):
        yield order[start : start + batch_size][rank::world]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return n // batch_size
