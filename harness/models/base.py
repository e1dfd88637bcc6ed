"""The family contract: one class declares everything the harness needs to know about a family.

A run goes ``uint8 -> scaling.encode -> net -> head -> loss`` and ``decode -> metrics``, in one
direction. A family subclass declares itself in its class attributes (read by ``train``,
``runs``, ``bench`` and the report: through each run's record, and its ``ReportSections``) and
writes three things:

- ``train_step(batch, opts, backward, rng)``: the algorithm written out plainly, with plain
  optimisers, so the same code runs under Lightning and in ``harness.bench``'s bare loop;
- ``baseline()``: metrics measured before the first step (untrained model, floors);
- ``measure()``: an ``Evaluation`` on held-out data, computed from what the user sees.

Everything else lives here once: the evaluation schedule and the one final evaluation, one
logging path for scalars, images and histograms, the "restored from a checkpoint" guard, the
divergence checks, and the training noise drawn from ``(seed, step)`` so a run does not depend
on how it was cut into epochs or resumed.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn

from harness.data.images import DATA_CHOICES, DataError
from harness.core.history import History
from harness.core.pixels import Head, Scaling, out_excess, out_of_range, span
from harness.models.data_fit import data_problem


class Diverged(RuntimeError):
    """A non-finite loss or output, or a blow-up: the run ends as ``diverged``."""


class Skipped(Exception):
    """The combination has no meaning for its family: the run ends as ``skipped``."""


@dataclass
class Evaluation:
    """One evaluation: metrics, uint8 grids to show, and the last layer's ``z`` and the head's
    output for histograms."""

    metrics: dict[str, float]
    grids: dict[str, torch.Tensor] = field(default_factory=dict)
    z: torch.Tensor | None = None
    out: torch.Tensor | None = None


@dataclass(frozen=True)
class ReportSections:
    """What a family's part of a report shows beyond its primary metric, declared by the family
    so that no report module names one: a new family brings its own, and a family no module
    declares any more (old records) gets this empty one: its primary metric alone."""

    caption: str = "samples"  # montage.png: what one sample shows
    panels: tuple[str, ...] = ()  # curves.png beside the primary, in order, where records have them
    shared: dict[str, str] = field(default_factory=dict)  # metric -> one drawn in its panel (x)
    # metric -> (floor metric, label): the reference line in its curves panel and bar chart
    floors: dict[str, tuple[str, str]] = field(default_factory=dict)
    # (metric, "min" | "max"): the metrics every comparison is paired on, side by side, in the
    # report (harness.report.contrasts); empty: the primary alone
    paired: tuple[tuple[str, str], ...] = ()
    # metric -> its floor's line style, where the default "--" would read as another line
    floor_styles: dict[str, str] = field(default_factory=dict)
    # metric -> (value, text): a value that says the measurement is weaker than it looks
    caveats: dict[str, tuple[float, str]] = field(default_factory=dict)


@contextmanager
def eval_mode(net: nn.Module):
    """Evaluate ``net`` in eval mode (BatchNorm running stats), then restore its mode."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


Backward = Callable[[torch.Tensor], None]


def param_groups(net: nn.Module, lr: float, last_lr_scale: float) -> list[dict]:
    """Optimiser groups with the network's last layer (``net.last``) at ``lr`` x
    ``last_lr_scale``: under Adam a weight moves about the learning rate per step, so 127.5
    moves a raw 0..255 output as fast as a [-1, 1] one. One group at 1. A network that does
    not name its last layer cannot take another scale: one line, before any work."""
    if last_lr_scale == 1.0:
        return [{"params": list(net.parameters())}]
    if not hasattr(net, "last"):
        raise ValueError(f"model.module.last_lr_scale={last_lr_scale} needs a network that "
                         f"names its last layer; {type(net).__name__} does not")
    last = {id(p) for p in net.last.parameters()}
    return [{"params": [p for p in net.parameters() if id(p) not in last]},
            {"params": list(net.last.parameters()), "lr": lr * last_lr_scale}]


class FamilyModule(pl.LightningModule):
    # ---------------------------------------------------------------- the declaration
    family: ClassVar[str]  # records, reports, TensorBoard sections
    primary: ClassVar[tuple[str, str]]  # (metric, "min" | "max"): ranks, progress, HParams
    units: ClassVar[str] = ""  # what the primary metric counts in, for the report's headers
    hparam_metrics: ClassVar[tuple[str, ...]]  # HParams columns after the primary
    needs: ClassVar[type]  # a Protocol the data module must satisfy
    pixel_output: ClassVar[bool] = True  # the head acts on pixels: range_mismatch has meaning
    heads: ClassVar[tuple[str, ...] | None] = None  # heads with meaning here (None: all)
    bench: ClassVar[tuple[tuple[str, ...], int]]  # harness.bench: (overrides, timed steps)
    # settings that name one of a few choices, checked before any work (harness.core.settings):
    # config key -> (accepted values, what they mean); the data's own, then the family's
    choices: ClassVar[dict[str, tuple[tuple[str, ...], str]]] = DATA_CHOICES
    report: ClassVar[ReportSections] = ReportSections()  # its report's captions, panels, floors

    def __init__(self, scaling: Scaling, head: Head, seed: int, eval_every: int, log_every: int,
                 blowup: float, eval_early: tuple[int, int]):
        super().__init__()
        if self.heads is not None and head.name not in self.heads:
            acts_on = "pixels" if self.pixel_output else "class scores"
            raise Skipped(f"head '{head.name}' has no meaning for {self.family} {acts_on} "
                          f"(valid: {', '.join(self.heads)})")
        self.automatic_optimization = False  # train_step is written out, for bench's bare loop
        self.scaling, self.head = scaling, head  # scaling: buffers that move with the module
        self.seed, self.eval_every, self.log_every, self.blowup = seed, eval_every, log_every, blowup
        self.eval_early = tuple(eval_early)  # (every, until): denser evaluations at the start
        self.initial_metrics: dict[str, float] = {}
        self.final: Evaluation | None = None
        self.wall_before, self.part_started = 0.0, time.time()  # wall time across resumes
        self.seconds: Counter[str] = Counter()  # where a run's time goes, for the record
        self.history_path, self.history = None, None  # set by ``keep_history``
        self.steps_done: int | None = None  # at the checkpoint a resumed run starts from
        # warnings for the run to give, once per sweep: key -> text (e.g. random VGG weights)
        self.notes: dict[str, str] = {}

    # ------------------------------------------------------------ what a family writes
    def train_step(self, batch, opts: list, backward: Backward, rng: torch.Generator):
        """One training step with plain optimisers; returns (losses, last layer's z)."""
        raise NotImplementedError

    def baseline(self) -> dict[str, float]:
        """Metrics before the first step: untrained model, floors, trivial predictors."""
        raise NotImplementedError

    def measure(self) -> Evaluation:
        """Held-out metrics on decoded outputs, grids and histograms' tensors."""
        raise NotImplementedError

    def use_data(self, data) -> None:
        """Anything the family precomputes from its data module (e.g. a style's Gram matrices)."""

    def keep_history(self, path) -> None:
        """Write every logged evaluation (``evaluate(log_step=...)``) to ``path`` as it comes."""
        self.history_path = path

    # ------------------------------------------------------------------ shared parts
    @classmethod
    def check_data(cls, data) -> None:
        """One line, before any work, when the data module lacks what the family needs."""
        line = data_problem(cls, data)
        if line:
            raise DataError(line)

    def apply_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z, self.scaling)

    def step_rng(self, step: int) -> torch.Generator:
        """The training noise of ``step``: a function of (seed, step) only, so neither the
        checkpoint interval nor a resume changes it."""
        return torch.Generator(device=self.device).manual_seed(self.seed * 2**32 + step)

    def optimizer_list(self) -> list:
        opts = self.optimizers()
        return list(opts) if isinstance(opts, (list, tuple)) else [opts]

    @property
    def step(self) -> int:
        """Training batches done so far, across epochs and resumes."""
        return self.trainer.fit_loop.epoch_loop.total_batch_idx + 1

    @property
    def total_steps(self) -> int:
        return self.trainer.datamodule.steps

    # ----------------------------------------------------------------- the lifecycle
    def on_fit_start(self) -> None:
        self.part_started = time.time()
        if self.history_path:
            self.history = History(self.history_path, keep_until=self.steps_done)
        self.use_data(self.trainer.datamodule)
        if not self.initial_metrics:  # the one guard: a resumed run keeps its baseline
            with self.timed("baseline"):
                self.initial_metrics = self.baseline()

    def training_step(self, batch, batch_idx: int) -> None:
        step = self.step
        losses, z = self.train_step(batch, self.optimizer_list(), self.manual_backward,
                                    self.step_rng(step))
        if step % self.log_every == 0 or step == self.total_steps:
            self.check_finite(losses, z)  # a host sync: every log_every steps only
            self.last_logged = {k: float(v.detach()) for k, v in losses.items()}  # the bar's
            self.log_scalars("train", self.last_logged, step)
        if self.evaluates_at(step) and step < self.total_steps:
            with self.timed("evaluations"):
                self.evaluate(log_step=step)

    def evaluates_at(self, step: int) -> bool:
        """Every ``eval_every`` steps, and every ``eval_early`` (every, until) steps up to its
        ``until``: an early start resolved without paying for it the whole run."""
        every, until = self.eval_early
        return bool(self.eval_every and step % self.eval_every == 0) or bool(
            every and step <= until and step % every == 0)

    def on_train_end(self) -> None:
        self.finish()

    def finish(self) -> dict[str, float]:
        """The final evaluation, exactly once (also when a resumed run had no step left)."""
        if self.final is None:
            with self.timed("final_evaluation"):
                self.final = self.evaluate(log_step=self.total_steps, keep=True)
        return self.final.metrics

    def evaluate(self, log_step: int | None = None, keep: bool = False):
        """``measure()``; with ``log_step`` also logged. Returns the metrics, or with ``keep``
        the whole ``Evaluation``. In float32 whatever the training precision: inside a
        bf16-mixed training step it would measure bfloat16 outputs (and numpy, which SWD's sort
        uses, has no bfloat16)."""
        with torch.autocast(self.device.type, enabled=False):
            ev = self.measure()
        if log_step is not None:
            self.log_evaluation(ev, log_step)
            if self.history is not None:
                wall = self.wall_before + time.time() - self.part_started
                self.history.append(log_step, wall, ev.metrics)
        return ev if keep else ev.metrics

    @contextmanager
    def timed(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start

    # ---------------------------------------------------------------------- checks
    def check_finite(self, losses: dict[str, torch.Tensor], z: torch.Tensor) -> None:
        finite = all(bool(torch.isfinite(v)) for v in losses.values())
        peak = z.detach().abs().max()
        if not finite or not torch.isfinite(peak) or peak > self.blowup:
            shown = ", ".join(f"{k}={float(v.detach()):.3g}" for k, v in losses.items())
            raise Diverged(f"non-finite loss or blow-up ({shown}, max|z|={float(peak):.3g})")

    @staticmethod
    def check_output(out: torch.Tensor) -> None:
        if not bool(torch.isfinite(out).all()):
            raise Diverged("non-finite output at evaluation")

    def output_stats(self, out: torch.Tensor) -> dict[str, float]:
        """What the decode's clip hides: how often and how far outputs leave ``[lo, hi]``."""
        self.check_output(out)
        return {"out_of_range": float(out_of_range(out, self.scaling)),
                "out_excess": out_excess(out, self.scaling),
                "span": span(self.scaling.to_pixels(out))}

    # --------------------------------------------------------------------- logging
    def log_scalars(self, section: str, values: dict[str, float], step: int) -> None:
        """``<family>/<section>/<name>``: a family's cards sit together in TensorBoard."""
        if self.logger:
            self.logger.log_metrics({f"{self.family}/{section}/{k}": v for k, v in values.items()
                                     if math.isfinite(v)}, step=step)

    def log_evaluation(self, ev: Evaluation, step: int) -> None:
        """Scalars, uint8 grids and histograms of one evaluation: the one logging path."""
        self.log_scalars("eval", ev.metrics, step)
        if not isinstance(self.logger, TensorBoardLogger):
            return
        tb = self.logger.experiment
        for name, grid in ev.grids.items():
            tb.add_image(f"{self.family}/samples/{name}", grid, step)
        for name, t in (("last_layer_z", ev.z), ("head_output", ev.out)):
            if t is not None:
                tb.add_histogram(f"{self.family}/hist/{name}", t.detach().float().cpu(), step)

    # ---------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["initial_metrics"] = self.initial_metrics
        checkpoint["wall_time_s"] = self.wall_before + time.time() - self.part_started
        # the history a resumed run keeps (a module saved outside a fit has done none)
        checkpoint["steps_done"] = self.step if getattr(self, "_trainer", None) else 0

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.initial_metrics = checkpoint.get("initial_metrics", {})
        self.wall_before = checkpoint.get("wall_time_s", 0.0)
        self.steps_done = checkpoint.get("steps_done", 0)

