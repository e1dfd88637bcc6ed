"""The segmentation family: a network of per-pixel class scores on one scaling and one head.

Images arrive as uint8 and are encoded by the scaling on the device, so every scaling sees the
same pixels. The head acts on class scores, not pixels: ``identity`` keeps logits for softmax
cross-entropy, ``sigmoid`` scores each class independently with BCE; other heads have no meaning
here and the run is ``skipped``. Metrics are computed on the held-out split by torchmetrics.
"""
from __future__ import annotations

import copy
import math
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_jaccard_index

from harness.metrics.visuals import to_grid
from harness.models.unet import INITS
from harness.models.base import Evaluation, FamilyModule, ReportSections, eval_mode



def seg_metrics(pred: torch.Tensor, target: torch.Tensor, n_classes: int,
                ignore_index: int) -> dict[str, float]:
    """``miou`` (macro over classes present in prediction or target), ``pixel_acc`` and
    ``iou_c<k>`` (NaN for a class absent from both, where IoU is undefined)."""
    pred, target = pred.long(), target.long()
    kw = dict(num_classes=n_classes, ignore_index=ignore_index, validate_args=False)
    valid = target != ignore_index
    present = (torch.bincount(target[valid], minlength=n_classes)
               + torch.bincount(pred[valid], minlength=n_classes)) > 0
    per_class = multiclass_jaccard_index(pred, target, average="none", **kw)
    out = {"miou": float(multiclass_jaccard_index(pred, target, average="macro", **kw)),
           "pixel_acc": float(multiclass_accuracy(pred, target, average="micro", **kw))}
    out.update({f"iou_c{k}": float(v) if present[k] else math.nan for k, v in enumerate(per_class)})
    return out


def palette(n: int = 256) -> torch.Tensor:
    """The PASCAL VOC colour map as uint8 (n, 3): fixed colours; 255 (void) is cream."""
    cmap = torch.zeros(n, 3, dtype=torch.uint8)
    for i in range(n):
        c, rgb = i, [0, 0, 0]
        for j in range(8):
            for ch in range(3):
                rgb[ch] |= ((c >> ch) & 1) << (7 - j)
            c >>= 3
        cmap[i] = torch.tensor(rgb)
    return cmap


PALETTE = palette()


def overlay(images: torch.Tensor, masks: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """uint8 images (N, C, H, W) blended with the palette colours of masks (N, H, W)."""
    rgb = images.cpu().expand(-1, 3, -1, -1).float()
    colours = PALETTE[masks.cpu().long()].permute(0, 3, 1, 2).float()
    return ((1 - alpha) * rgb + alpha * colours).round().clamp(0, 255).to(torch.uint8)


class SegData(Protocol):
    val_images: torch.Tensor  # uint8 (N, C, H, W), the held-out split
    val_masks: torch.Tensor  # uint8 (N, H, W) class ids

    def class_counts(self) -> torch.Tensor:
        """Training pixels per class: the majority baseline."""


class SegModule(FamilyModule):
    family = "seg"
    primary = ("miou", "max")
    units = "mean IoU over the classes, 0..1"
    hparam_metrics = ("miou_init", "majority_miou", "pixel_acc", "majority_acc",
                      "val_loss", "logit_signal", "signal_gain")
    needs = SegData
    pixel_output = False  # the head acts on class scores: no pixel range to mismatch
    heads = ("identity", "sigmoid")  # softmax + CE; per-class sigmoid + BCE
    bench = (("scaling=imagenet", "head=identity"), 300)  # 30 groups of 10 for the interval
    choices = {**FamilyModule.choices,
               "model.module.net.init": (INITS, "the U-Net's initialisation")}
    report = ReportSections(  # no pixel range: no range panels
        caption="validation image | ground truth | prediction (overlays)",
        floors={"miou": ("majority_miou", "majority class")},
        paired=(("miou", "max"), ("pixel_acc", "max")))

    def __init__(self, net: nn.Module, n_classes: int, lr: float, ignore_index: int,
                 n_overlay: int, eval_batch: int = 64, **common):
        super().__init__(**common)
        self.net, self.n_classes, self.ignore_index = net, n_classes, ignore_index
        self.lr, self.n_overlay, self.eval_batch = lr, n_overlay, eval_batch
        self.data = None

    def use_data(self, data) -> None:
        self.data = data

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)

    # -------------------------------------------------------------------- training
    def loss(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Softmax cross-entropy (identity) or per-class BCE on one-hot targets (sigmoid),
        both averaged over labelled pixels. BCE takes the logits: the same loss as BCE on
        ``sigmoid(z)``, without its overflow."""
        target = target.long()
        if self.head.name == "identity":
            return F.cross_entropy(z, target, ignore_index=self.ignore_index)
        valid = (target != self.ignore_index).unsqueeze(1)
        onehot = F.one_hot(target.masked_fill(~valid[:, 0], 0), self.n_classes)
        weight = valid.expand_as(z).float()
        bce = F.binary_cross_entropy_with_logits(z, onehot.permute(0, 3, 1, 2).float(),
                                                 weight=weight, reduction="sum")
        return bce / weight.sum().clamp_min(1)

    def train_step(self, batch, opts, backward, rng):
        (opt,) = opts
        x, m = batch
        z = self.net(self.scaling.encode(x))
        loss = self.loss(z, m)
        opt.zero_grad(set_to_none=True)
        backward(loss)
        opt.step()
        return {"loss": loss}, z

    # -------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images -> (class scores z, head output), in eval mode and batches."""
        with eval_mode(self.net):
            z = torch.cat([self.net(self.scaling.encode(x.to(self.device)))
                           for x in images.split(self.eval_batch)])
        return z, self.apply_head(z)

    def baseline(self) -> dict[str, float]:
        """The majority class everywhere, and the untrained network."""
        counts = self.data.class_counts()
        majority = torch.full_like(self.data.val_masks, int(counts.argmax()))
        base = seg_metrics(majority, self.data.val_masks, self.n_classes, self.ignore_index)
        init = self.evaluate(log_step=0)  # the untrained model: step 0 of the curves
        return {"majority_acc": base["pixel_acc"], "majority_miou": base["miou"],
                "miou_init": init["miou"], "pixel_acc_init": init["pixel_acc"],
                **self.input_signal()}

    @torch.no_grad()
    def input_signal(self) -> dict[str, float]:
        """How much of the input reaches the class scores: the std of their input-driven part,
        ``z(x) - z(0)`` over the held-out images' pixels (``logit_signal``), and that over the
        encoded input's std (``signal_gain``: about 1 when a layer neither shrinks nor grows
        the signal). At initialisation it is the mechanism behind a scaling's head start.
        Measured on a copy in training mode, as the first step sees it (BatchNorm on batch
        statistics: a global input scale cancels), leaving the network's own state as it was."""
        x = torch.cat([self.scaling.encode(b.to(self.device))
                       for b in self.data.val_images.split(self.eval_batch)])
        net = copy.deepcopy(self.net).train()
        z = torch.cat([net(b) - net(torch.zeros_like(b)) for b in x.split(self.eval_batch)])
        signal = float(z.std())
        return {"logit_signal": signal, "signal_gain": signal / float(x.std())}

    def measure(self) -> Evaluation:
        """mIoU, pixel accuracy, per-class IoU and loss on the validation split, and
        ``image | ground truth | prediction`` overlays."""
        images, masks = self.data.val_images, self.data.val_masks
        z, scores = self.predict(images)
        self.check_output(z)
        pred = scores.argmax(1).cpu()
        metrics = {**seg_metrics(pred, masks, self.n_classes, self.ignore_index),
                   "val_loss": float(self.loss(z, masks.to(z.device)))}
        n = self.n_overlay
        return Evaluation(metrics, {"decoded": self.overlays(images[:n], masks[:n], pred[:n])},
                          z, scores)

    def overlays(self, images, masks, pred) -> torch.Tensor:
        """One uint8 (3, H, W) grid of ``image | ground truth | prediction`` triplets."""
        rgb = images.cpu().expand(-1, 3, -1, -1)
        return to_grid(torch.cat([rgb, overlay(images, masks), overlay(images, pred)], dim=-1))
