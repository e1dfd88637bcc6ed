"""The training stream every data module shares: batch ``i`` of a run is a function of
(seed, i) only, so a run does not depend on how it is cut into epochs or resumed.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from harness.data.images import DataError, check_channels


def choose(registry: dict, name: str, what: str = "data source"):
    """``registry[name]``; an unknown name is one line listing the valid choices."""
    if name not in registry:
        raise DataError(f"unknown {what} '{name}'; valid choices: {', '.join(registry)}")
    return registry[name]


def stream_rows(seed: int, start: int, stop: int, block: int,
                draw: Callable[[np.random.Generator], np.ndarray]) -> np.ndarray:
    """Rows ``start..stop-1`` of an endless table whose rows ``b*block ..`` are
    ``draw(rng(seed, b))``: row i depends on (seed, i) only, never on where the stream is cut."""
    first, last = start // block, (stop - 1) // block
    rows = np.concatenate([draw(np.random.default_rng([seed, b])) for b in range(first, last + 1)])
    return rows[start - first * block:stop - first * block]


class Batches(Dataset):
    """Batch k is ``take(rows[k])``, built when the loader reaches it: no epoch copied up front."""

    def __init__(self, take: Callable[[np.ndarray], object], rows: np.ndarray):
        self.take, self.rows = take, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int):
        return self.take(self.rows[k])


class StepData(pl.LightningDataModule):
    """A training stream of exactly ``steps`` batches, cut into epochs of ``chunk`` batches.

    Sample i of the stream (the j-th of batch s, i = s * batch_size + j) depends only on
    ``(seed, i)``: epoch ends are only where a run checkpoints, so a resumed run, a run with
    another ``checkpoint_every`` and a longer run with the same seed all see the same batches.
    By default the stream is passes over ``training_tensors()``, pass p in the order of a
    permutation seeded by (seed, p); a subclass may redefine ``stream`` and ``take``. The Trainer
    must reload the loader every epoch and run ``epochs`` of them.
    """

    def __init__(self, steps: int, seed: int, batch_size: int, channels: int, chunk: int = 0):
        super().__init__()
        self.steps, self.seed, self.batch_size = steps, seed, batch_size
        self.channels = check_channels(channels)
        self.chunk = chunk if 0 < chunk < steps else steps
        self.start_step, self.start_epoch = 0, 0

    def resume_at(self, step: int, epoch: int) -> None:
        """A resumed run: ``step`` batches done in ``epoch`` epochs, cut by whatever interval
        the interrupted run checkpointed at; the stream goes on from batch ``step`` to ``steps``
        in epochs of this run's ``chunk``."""
        self.start_step, self.start_epoch = step, epoch

    @property
    def epochs(self) -> int:
        return self.start_epoch + math.ceil((self.steps - self.start_step) / self.chunk)

    def train_dataloader(self) -> DataLoader:
        # batches done so far, across resumes: the next epoch goes on from there, whatever
        # interval earlier epochs were cut by
        first = self.trainer.fit_loop.epoch_loop.total_batch_idx + 1 if self.trainer else 0
        last = min(self.steps, first + self.chunk)
        rows = self.stream(first * self.batch_size, last * self.batch_size)
        batches = Batches(self.take, rows.reshape(last - first, self.batch_size, *rows.shape[1:]))
        # Without its own generator a DataLoader draws a seed from torch's global RNG per iterator.
        own = torch.Generator().manual_seed(self.seed)
        return DataLoader(batches, batch_size=None, generator=own)

    def training_tensors(self) -> tuple[torch.Tensor, ...]:
        """The training set, one tensor per part of a sample (images, masks), indexed on dim 0."""
        raise NotImplementedError

    def check_enough(self) -> None:
        """At least one batch of distinct training samples: fewer is a data set too small to use."""
        n = len(self.training_tensors()[0])
        if n < self.batch_size:
            raise DataError(f"only {n} training images, fewer than "
                            f"data.batch_size={self.batch_size}")

    def stream(self, start: int, stop: int) -> np.ndarray:
        """Table rows of stream samples ``start..stop-1``: here, indices into the training set."""
        n = len(self.training_tensors()[0])
        return stream_rows(self.seed, start, stop, n, lambda rng: rng.permutation(n))

    def take(self, rows: np.ndarray):
        """One batch from its table rows: here, the training samples they index."""
        idx = torch.from_numpy(rows)
        return tuple(t[idx] for t in self.training_tensors())


