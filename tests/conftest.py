"""Shared helpers: compose the real config tree with small, fast overrides."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parent.parent
CONF = str(ROOT / "conf")

# A tiny DCGAN on digits: seconds per run on a 2-core CPU.
FAST = ["model.module.generator.width=8", "model.module.discriminator.width=8",
        "data.batch_size=32", "data.eval_size=128", "eval_every=0", "log_every=5",
        "trainer.enable_progress_bar=false"]


def make_cfg(tmp_path: Path, *overrides: str):
    paths = [f"paths.log_dir={tmp_path}/logs", f"paths.results_dir={tmp_path}/results"]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("train", overrides=[*FAST, *paths, *overrides])


@pytest.fixture
def cfg_factory(tmp_path):
    return lambda *o: make_cfg(tmp_path, *o)


def run_cli(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """The real command line, as a user types it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", "harness.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
