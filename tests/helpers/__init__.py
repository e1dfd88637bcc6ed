"""Shared test helpers: the real config tree with small, fast overrides; the real command line;
what TensorBoard holds. Fixtures live in ``conftest.py``; test files import from here, never
from each other."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[2]
CONF = str(ROOT / "conf")

# A tiny DCGAN on digits: seconds per run on a 2-core CPU.
FAST = ["model.module.generator.width=8", "model.module.discriminator.width=8",
        "data.batch_size=32", "data.eval_size=128", "eval_every=0", "log_every=5",
        "trainer.enable_progress_bar=false"]


def make_cfg(tmp_path: Path, *overrides: str, fast: bool = True, conf: str = CONF):
    """The composed ``train`` config, logs and results under ``tmp_path``."""
    paths = [f"paths.log_dir={tmp_path}/logs", f"paths.results_dir={tmp_path}/results"]
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        return compose("train", overrides=[*(FAST if fast else []), *paths, *overrides])


def run_cli(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """The real command line, as a user types it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", "harness.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def tb_events(log_dir: Path) -> list[Path]:
    events = sorted(Path(log_dir).rglob("events.out.tfevents.*"))
    assert events, f"no TensorBoard events under {log_dir}"
    return events


def tb_tags(log_dir: Path) -> dict[str, set[str]]:
    """Every scalar, image, histogram and hparams tag under ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {"scalars": set(), "images": set(), "histograms": set(), "hparams": set()}
    for e in tb_events(log_dir):
        acc = EventAccumulator(str(e), size_guidance={"images": 0}).Reload()
        for k in ("scalars", "images", "histograms"):
            tags[k] |= set(acc.Tags()[k])
        try:
            tags["hparams"] |= set(acc.PluginTagToContent("hparams"))
        except KeyError:  # this event file holds no hparams summary
            pass
    return tags


def tb_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value), ...] over every event file under ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, float]]] = {}
    for e in tb_events(log_dir):
        acc = EventAccumulator(str(e), size_guidance={"scalars": 0}).Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((s.step, s.value) for s in acc.Scalars(tag))
    return out
