"""The GAN family: any generator/discriminator pair trained on one scaling and one head.

Real batches arrive as uint8 and are encoded by the scaling on the device; fakes are
``head(G(z))``; the discriminator sees both in the scaling's space. Quality is measured on
decoded uint8 images, the way a user sees them, so every scaling is judged on one ruler. On
labelled digits a classifier also says whether the samples read as digits (``harness.metrics.ruler``),
as a user gets them and as the article's saver showed them: one min/max stretch per 8x8 grid.
"""
from __future__ import annotations

import hashlib
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from harness.metrics.labelled import ruled
from harness.metrics import ruler as digit_ruler
from harness.core.pixels import span
from harness.metrics.swd import RealSWD, moment_gap
from harness.metrics.visuals import stretch_grid, to_grid
from harness.models.article_dcgan import NORMS
from harness.models.base import (Evaluation, FamilyModule, ReportSections, eval_mode,
                                 param_groups)


_SHARED: dict = {}  # the measuring side of a held-out set, shared by the runs of one process


def shared(key: tuple, make):
    """``make()``, once per process for ``key``: a sweep job runs many runs of one data set,
    and their held-out SWD side, ruler and real-against-real floors are the same (a few
    seconds a run); the last few keys are kept. The torch thread count is part of the key,
    since it changes the float order."""
    key = (*key, torch.get_num_threads())
    if key not in _SHARED:
        if len(_SHARED) >= 6:
            _SHARED.pop(next(iter(_SHARED)))
        _SHARED[key] = make()
    return _SHARED[key]


def digest(images: torch.Tensor) -> str:
    """The images' shape and content, as a key."""
    data = images.detach().cpu().contiguous().numpy()
    return f"{tuple(images.shape)}:{hashlib.sha1(data).hexdigest()}"


class GANData(Protocol):
    train_images: torch.Tensor  # uint8 (N, C, H, W)
    eval_images: torch.Tensor  # uint8 held-out real images the metrics compare against


class GANModule(FamilyModule):
    family = "gan"
    primary = ("swd", "min")
    units = "SWD x1e3, real-set normalisation"
    hparam_metrics = ("swd_init", "swd_real", "swd_own", "mean_gap", "std_gap",
                      "out_of_range", "out_excess", "recognised", "confident",
                      "confident_article")
    needs = GANData
    bench = (("scaling=symmetric", "head=tanh"), 120)
    choices = {**FamilyModule.choices,
               "model.module.discriminator.norm": (NORMS, "the discriminator's normalisation"),
               "model.module.last_bias": (("data_mean",), "where the last layer's bias starts; "
                                          "null: 0, the network's own init")}
    # the range metrics and recognisability beside SWD: decoded samples' recognised fraction
    # with the article view's in one panel (where they part, stretching hid a range error)
    report = ReportSections(
        caption="generated samples, one grid of the fixed evaluation noise",
        panels=("mean_gap", "out_of_range", "recognised"),
        shared={"recognised": "recognised_article"},
        floors={"swd": ("swd_real", "real against real"),
                "recognised": ("recognised_real", "real digits")},
        floor_styles={"recognised": "-."},
        # range and structure, structure only, and recognisability: a claim names which
        paired=(("swd", "min"), ("swd_own", "min"), ("kid", "min"), ("confident", "max"),
                ("coverage", "max"), ("recognised", "max")))

    def __init__(self, generator: nn.Module, discriminator: nn.Module, lr: float,
                 betas: tuple[float, float], d_steps: int, g_steps: int, reuse_z: bool,
                 last_lr_scale: float, last_bias: str | None, ruler_dir: str | None,
                 eval_seed: int = 0,
                 n_grid: int = 64, **common):
        super().__init__(**common)
        self.G, self.D = generator, discriminator
        self.lr, self.betas = lr, tuple(betas)
        self.d_steps, self.g_steps = d_steps, g_steps
        self.reuse_z = reuse_z  # one z per iteration for every D and G step, as the article did
        self.last_lr_scale = float(last_lr_scale)  # the generator's last layer's lr, x lr
        param_groups(generator, lr, self.last_lr_scale)  # refused here, before any work
        self.last_bias = last_bias  # "data_mean": the last layer starts at the data's mean
        if last_bias is not None and getattr(getattr(generator, "last", None), "bias",
                                             None) is None:
            raise ValueError(f"model.module.last_bias={last_bias} needs a generator that names "
                             f"its last layer, with a bias; {type(generator).__name__} has none")
        self.eval_seed, self.n_grid = eval_seed, n_grid
        self.ruler_dir = ruler_dir  # where the digit classifier is cached; None: no ruler
        self.eval_real: torch.Tensor | None = None
        self.swd: RealSWD | None = None
        self.ruler: digit_ruler.Ruler | None = None

    def use_data(self, data) -> None:
        if self.last_bias == "data_mean" and not self.initial_metrics:  # not on a resume
            self.start_at_mean(data.train_images)
        real = self.eval_real = data.eval_images
        self.real_key = digest(real)
        # the held-out side of every SWD, computed once
        self.swd = shared(("swd", self.real_key), lambda: RealSWD(real))
        cfg = getattr(data, "cfg", {})
        if self.ruler_dir is not None and ruled(cfg.get("source"), real.shape[1]):
            options = cfg.get("options") or None  # the held-out images are KID's reference
            where = (self.ruler_dir, cfg["source"], cfg.get("root"), repr(options))
            self.ruler = shared(("ruler", self.real_key, *where), lambda: digit_ruler.load_ruler(
                real.shape[-1], self.ruler_dir, reference=real, source=cfg["source"],
                root=cfg.get("root"), options=options))

    @torch.no_grad()
    def start_at_mean(self, images: torch.Tensor) -> None:
        """Set the last layer's bias so that, with its weights' output at 0, the head outputs
        the training images' mean per channel: the black-start control of the learning-rate
        arm (it draws no random number, so the run's streams stay the plain arm's)."""
        mean = images.float().mean((0, 2, 3), keepdim=True)  # 0..255, (1, C, 1, 1)
        target = self.scaling.encode(mean.to(self.scaling.shift.device))
        z = self.head.preimage(target, self.scaling).flatten()
        self.G.last.bias.copy_(z.to(self.G.last.bias))

    def generate(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (last layer's raw output, head output in the scaling's space)."""
        pre = self.G(z)
        return pre, self.apply_head(pre)

    def configure_optimizers(self):
        opt_d = torch.optim.Adam(self.D.parameters(), lr=self.lr, betas=self.betas)
        opt_g = torch.optim.Adam(param_groups(self.G, self.lr, self.last_lr_scale), lr=self.lr,
                                 betas=self.betas)
        return opt_d, opt_g

    def train_step(self, batch, opts, backward, rng):
        (x,) = batch
        real = self.scaling.encode(x)
        n = len(real)
        opt_d, opt_g = opts
        ones, zeros = real.new_ones(n), real.new_zeros(n)
        shared = self.G.sample_z(n, generator=rng, device=self.device) if self.reuse_z else None
        noise = lambda: shared if shared is not None else self.G.sample_z(  # noqa: E731
            n, generator=rng, device=self.device)
        for _ in range(self.d_steps):
            with torch.no_grad():
                _, fake = self.generate(noise())
            d_loss = (F.binary_cross_entropy_with_logits(self.D(real), ones)
                      + F.binary_cross_entropy_with_logits(self.D(fake), zeros))
            opt_d.zero_grad(set_to_none=True)
            backward(d_loss)
            opt_d.step()
        for _ in range(self.g_steps):
            pre, fake = self.generate(noise())
            g_loss = F.binary_cross_entropy_with_logits(self.D(fake), ones)
            opt_g.zero_grad(set_to_none=True)
            backward(g_loss)
            opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss}, pre

    # ----------------------------------------------------------------- evaluation
    def baseline(self) -> dict[str, float]:
        """The untrained generator, and the floor: held-out real against as many training
        images."""
        init = {f"{k}_init": v for k, v in self.evaluate(log_step=0).items()  # step 0 of the curves
                if k in ("swd", "swd_own", "mean_gap", "std_gap", "confident", "recognised")}
        train_real = self.trainer.datamodule.train_images[:len(self.eval_real)]

        def floors() -> dict[str, float]:
            out = {"swd_real": self.swd(train_real)["swd"], "span_real": span(self.eval_real)}
            if self.ruler is not None and "confident" in self.ruler.reported:
                known = self.ruler.classify(train_real)
                out["confident_real"] = known["confident"]
                out["recognised_real"] = known["recognised"]
            return out
        key = ("floors", self.real_key, digest(train_real), self.ruler is not None)
        return {**init, **shared(key, floors)}

    @torch.no_grad()
    def eval_outputs(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed-noise samples in eval mode: (raw last layer, head output)."""
        g = torch.Generator().manual_seed(self.eval_seed)
        with eval_mode(self.G):
            return self.generate(self.G.sample_z(n, generator=g).to(self.device))

    def measure(self) -> Evaluation:
        """Metrics on decoded uint8 samples against the held-out real images; grids decoded
        as a user gets them and as the article saw them (``article_view``)."""
        real = self.eval_real
        pre, out = self.eval_outputs(len(real))
        stats = self.output_stats(out)  # raises Diverged on a non-finite output
        fake = self.scaling.decode(out).cpu()
        metrics = {**self.swd(fake), **moment_gap(real, fake), **stats}
        if self.ruler is not None:
            metrics.update(digit_ruler.views(self.ruler, fake, self.article_view(out)))
        grid = out[:self.n_grid]
        return Evaluation(metrics=metrics,
                          grids={"decoded": to_grid(self.scaling.decode(grid)),
                                 "article": to_grid(stretch_grid(grid))},
                          z=pre, out=out)

    def article_view(self, out: torch.Tensor) -> torch.Tensor:
        """The samples as the article's saver showed them: each grid of ``n_grid`` (8x8)
        stretched once from its own min/max to 0..255, whatever the scaling."""
        return torch.cat([stretch_grid(g) for g in out.split(self.n_grid)])
