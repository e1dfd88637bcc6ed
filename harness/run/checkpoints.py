"""A run's checkpoints: written whole or not at all, and one that cannot be read set aside.

A disk that fills up mid-write would otherwise leave a truncated ``last.ckpt`` that every later
resume fails on, until the user deletes it by hand.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from pytorch_lightning.plugins import TorchCheckpointIO

log = logging.getLogger("harness")

LAST = "last.ckpt"  # the one checkpoint a run keeps, in its CKPT_DIR (harness.run.fit)


class WholeFileIO(TorchCheckpointIO):
    """Writes a checkpoint to a temporary name beside it, then renames it over the last one:
    a failed write (a full disk) leaves the previous checkpoint, and removes its own part."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def load_or_set_aside(ckpt: Path) -> dict | None:
    """The checkpoint's contents; None, with a warning, where it cannot be read (truncated,
    corrupt): it is moved beside the run as ``unreadable-<time>.ckpt`` and the run starts over."""
    import torch

    try:
        return torch.load(ckpt, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - whatever the damage, the run must not stay stuck
        keep = ckpt.parent.parent / f"unreadable-{time.strftime('%Y%m%dT%H%M%S')}.ckpt"
        os.replace(ckpt, keep)
        log.warning("checkpoint %s cannot be read (%s: %s): set aside as %s; the run starts "
                    "again from step 0", ckpt, type(e).__name__, str(e).splitlines()[0][:120]
                    if str(e) else "", keep)
        return None
