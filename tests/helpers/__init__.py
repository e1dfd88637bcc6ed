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
TESTS = ROOT / "tests"
CONF = str(ROOT / "conf")

# A tiny DCGAN on digits: seconds per run on a 2-core CPU. Its digit classifier (the ruler) is
# cached in the repository's data/ wherever a test runs, so it is trained once per test session.
FAST = ["model.module.generator.width=8", "model.module.discriminator.width=8",
        "data.batch_size=32", "data.eval_size=128", "eval_every=0", "log_every=5",
        "trainer.enable_progress_bar=false", f"model.module.ruler_dir={ROOT / 'data'}"]

# A tiny U-Net on a small mosaic: about a second per run.
SEG_FAST = ["model=seg", "steps=4", "eval_every=2", "log_every=2", "data.image_size=32",
            "data.n_train=16", "data.n_val=8", "data.batch_size=4", "data.mosaic.texture_size=64",
            "model.module.net.width=4", "model.module.net.depth=2",
            "trainer.enable_progress_bar=false"]

# Every config that reads the user's own folder of images (with a placeholder root).
FOLDER_CONFIGS = [
    ["data=folder", "data.root=/x"],
    ["model=seg", "data=seg_folder", "data.root=/x", "data.n_classes=2"],
    ["model=style", "data=photos"],
]

# What every family module takes from the top-level config (conf/train.yaml, conf/model/*.yaml),
# for tests that build a module by hand.
FAMILY_ARGS = {"seed": 0, "eval_every": 0, "eval_early": (0, 0), "log_every": 10, "blowup": 1e6}


def write_history(run_dir: Path, rows: list[dict]) -> Path:
    """A run folder with the ``history.csv`` these rows make (columns: the first row's keys)."""
    import csv

    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "history.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return run_dir


def make_cfg(tmp_path: Path, *overrides: str, fast: bool = True, conf: str = CONF):
    """The composed ``train`` config, logs and results under ``tmp_path``."""
    paths = [f"paths.log_dir={tmp_path}/logs", f"paths.results_dir={tmp_path}/results"]
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        return compose("train", overrides=[*(FAST if fast else []), *paths, *overrides])


def run_cli(*args: str, cwd: Path, timeout: int = 600, env: dict | None = None,
            tty: bool = False) -> subprocess.CompletedProcess:
    """The real command line, as a user types it: its output piped, as in CI or ``| cat``;
    with ``tty``, its stderr a terminal (120 columns), where a run shows its step bar."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0", **(env or {})}
    cmd = [sys.executable, "-m", "harness.train", *args]
    if not tty:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
    import fcntl
    import pty
    import struct
    import termios
    import threading

    terminal, stderr = pty.openpty()
    fcntl.ioctl(stderr, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    read: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(terminal, read))
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr,
                          text=True) as p:
        os.close(stderr)  # the child holds its own copy: its exit ends the reader
        reader.start()
        out = p.communicate(timeout=timeout)[0]
    reader.join()
    os.close(terminal)
    return subprocess.CompletedProcess(cmd, p.returncode, out,
                                       b"".join(read).decode(errors="replace"))


def _drain(fd: int, into: list[bytes]) -> None:
    """Everything written to a terminal's other end, until its last writer closes it (a full
    terminal would block the writer)."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: every writer has closed its end
            return
        if not chunk:
            return
        into.append(chunk)


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


def hparams_rows(log_dir: Path) -> dict[str, dict]:
    """folder -> {"hparams": {name: value}, "metrics": [experiment's metric tags]} as
    TensorBoard's HParams dashboard reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    rows: dict[str, dict] = {}
    for e in tb_events(log_dir):
        acc = EventAccumulator(str(e)).Reload()
        try:
            content = acc.PluginTagToContent("hparams")
        except KeyError:
            continue
        row = rows.setdefault(str(e.parent.relative_to(log_dir)), {})
        if metadata.SESSION_START_INFO_TAG in content:
            info = metadata.parse_session_start_info_plugin_data(
                content[metadata.SESSION_START_INFO_TAG])
            row["hparams"] = {k: v.string_value for k, v in info.hparams.items()}
        if metadata.EXPERIMENT_TAG in content:
            exp = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
            row["metrics"] = [m.name.tag for m in exp.metric_infos]
    return rows


def hparams_served(log_dir: Path):
    """(experiment, session groups) as TensorBoard's own HParams backend serves them to its
    dashboard for ``log_dir``: the hyperparameters in its order (not the order written), and
    every row with its metric values."""
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.context import RequestContext
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import (api_pb2, backend_context, get_experiment,
                                             list_session_groups)

    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(log_dir))
    mux.Reload()
    context = backend_context.Context(base_plugin.TBContext(
        data_provider=data_provider.MultiplexerDataProvider(mux, str(log_dir)),
        logdir=str(log_dir), multiplexer=mux))
    ask = RequestContext()
    experiment = get_experiment.Handler(  # 1000: the dashboard's _maxNumHparamsToLoad
        ask, context, "", api_pb2.GetExperimentRequest(hparams_limit=1000)).run()
    request = api_pb2.ListSessionGroupsRequest(allowed_statuses=api_pb2.Status.values(),
                                               slice_size=1000)
    return experiment, list_session_groups.Handler(ask, context, "", request).run().session_groups


def hparams_opens_on(experiment) -> tuple[list[str], list[str]]:
    """The hyperparameters and metrics TensorBoard's HParams table ticks as it opens: its query
    pane sorts the served hyperparameters with ``differs`` first (a stable sort) and ticks the
    first five, and the first five metrics in the experiment's order (``_computeHParams``,
    ``_computeMetrics`` of tf-hparams-query-pane, tensorboard/webfiles.zip index.js, 2.21)."""
    hparams = sorted(experiment.hparam_infos, key=lambda h: not h.differs)[:5]
    return [h.name for h in hparams], [m.name.tag for m in experiment.metric_infos[:5]]


EXTREME = (-1e4, -50.0, -3.0, 0.0, 3.0, 50.0, 1e4)


def check_head(head, scaling) -> None:
    """A head's output stays inside the bounds it declares, with finite values and gradients,
    even for extreme ``z``; an unbounded head is pinned to what it does instead."""
    import torch

    z = torch.tensor(EXTREME).view(1, 1, 1, -1).expand(2, scaling.lo.shape[1], 1, -1)
    z = z.clone().requires_grad_(True)
    y = head(z, scaling)
    lo, hi = head.bounds(scaling.lo, scaling.hi)
    tol = 1e-4 * (1 + scaling.hi.abs().max())
    assert bool((y >= lo - tol).all() and (y <= hi + tol).all()), head.name
    assert torch.isfinite(y).all(), head.name
    if torch.isinf(lo).all() and torch.isinf(hi).all():  # the bounds check cannot fail here:
        at = lambda v: head(torch.full_like(z, v), scaling)  # noqa: E731
        affine = at(0.0) + z * (at(1.0) - at(0.0))  # an unbounded head is affine in z
        assert torch.allclose(y, affine, rtol=1e-5), head.name
    y.sum().backward()
    assert torch.isfinite(z.grad).all(), head.name


class StopAt:
    """A Lightning callback that stops a run after ``step`` training batches, as a crash
    (``RuntimeError``) or as Ctrl-C (``KeyboardInterrupt``). Added from the command line or a
    test as ``+callbacks.stop._target_=helpers.StopAt +callbacks.stop.step=7``."""

    def __new__(cls, step: int, ctrl_c: bool = False):
        import pytorch_lightning as pl

        class _StopAt(pl.Callback):
            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                if pl_module.step == step:
                    raise KeyboardInterrupt() if ctrl_c else RuntimeError(f"stopped at step {step}")

        return _StopAt()


class WaitAt:
    """A Lightning callback that holds a run after ``step`` training batches until the file
    ``go`` exists (at most ``seconds``): a live run that stays live exactly as long as a test
    needs, however fast or busy the machine. Added as ``+callbacks.wait._target_=helpers.WaitAt
    +callbacks.wait.step=6 +callbacks.wait.go=/path/to/go``."""

    def __new__(cls, step: int, go: str, seconds: float = 300.0):
        import time
        from pathlib import Path

        import pytorch_lightning as pl

        class _WaitAt(pl.Callback):
            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                end = time.time() + seconds
                while pl_module.step == step and not Path(go).exists() and time.time() < end:
                    time.sleep(0.05)

        return _WaitAt()
