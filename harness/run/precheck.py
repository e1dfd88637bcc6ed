"""A command's settings checked before any work: one line per problem, exit status 2.

A command's overrides are checked before Hydra creates anything, a single run's settings too (a
finished run of another config in its directory is set aside before Hydra opens its log there);
a sweep's jobs are checked by the sweeper, every one before the first starts; each job checks
itself again (``refuse``) where it is its own process.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from harness.core.keys import override_error
from harness.core.repo import CONF_DIR
from harness.core.settings import problems
from harness.models import families
from harness.models.data_fit import data_mismatch


def problems_of(cfg: DictConfig) -> list[str]:
    """Every problem of a run's config (without its ``hydra`` node); a family that cannot train
    on the data is the one line, as the rest would be its consequences (keys not there)."""
    from harness.data.faces import not_fetched

    mismatch = data_mismatch(cfg)
    if mismatch:
        return [mismatch]
    found = problems(cfg, families())
    if not found:  # a data set still to fetch: only once the settings resolve
        data = OmegaConf.to_container(cfg.data, resolve=True) if "data" in cfg else {}
        found = [line for line in [not_fetched(data)] if line]
    return found


def say(lines) -> None:
    """Print the problems, once each, and exit 2; nothing when there are none."""
    lines = list(dict.fromkeys(lines))
    if lines:
        print("\n".join(f"error: {line}" for line in lines), file=sys.stderr)
        sys.exit(2)


def refuse(cfg: DictConfig) -> None:
    say(problems_of(cfg))


def unwritable(folders) -> list[str]:
    """One line per folder a command must write into but cannot (read-only, not permitted),
    found before any work instead of as a traceback from the first file written there.
    ``folders``: (path, what goes there, the setting that moves it)."""
    out, refused = [], []
    for folder, what, key in folders:
        target = existing = Path(folder).absolute()
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent  # a folder still to be made: its nearest parent
        if not existing.is_dir() or any(r == target or r in target.parents for r in refused):
            continue  # inside a folder already said: its line covers this one
        try:
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as e:
            refused.append(target)
            out.append(f"{folder} cannot be written ({e.strerror or e}): {what} go there; make "
                       f"it writable, or choose another folder: {key}")
    return out


def log_folder(task: DictConfig) -> list[tuple]:
    """TensorBoard's folder, where the run has a logger."""
    save_dir = OmegaConf.select(task, "logger.save_dir")
    return [(save_dir, "TensorBoard's event files", "paths.log_dir=<folder> (or logger=none)")] \
        if save_dir else []


def task_config(cfg: DictConfig) -> DictConfig:
    """A composed config without its ``hydra`` node: what a run sees."""
    task = cfg.copy()
    with open_dict(task):
        del task["hydra"]
    return task


def compose_command(argv: list[str], multirun: bool) -> DictConfig | None:
    """The config a command composes (a sweep's: without its sweep overrides, as Hydra composes
    its primary config), before Hydra creates anything. An override Hydra cannot parse or apply
    (a key the config lacks, ``+`` on a key it has) exits with one line; None where Hydra will
    say what is wrong itself."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in argv if ("=" in a or a.startswith("~")) and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
        if multirun:
            overrides = [o.input_line for o in parsed if not o.is_sweep_override()]
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return compose("train", overrides=overrides, return_hydra_config=True)
    except Exception as e:  # noqa: BLE001 - not about the command line: Hydra's own traceback
        say([line] if (line := override_error(e)) else [])
        return None


def check_command(argv: list[str], multirun: bool) -> Path | None:
    """A command's overrides checked before Hydra starts; a single run's settings too. A single
    run then takes its directory's lock, before anything there is touched (a live run in it is
    refused in one line), and a finished run of another config there is set aside before Hydra
    opens its log; returns the directory it holds (a sweep's jobs are checked by the sweeper,
    every one before the first starts)."""
    cfg = compose_command(argv, multirun)
    if cfg is None or multirun:
        return None
    from harness.core.lock import acquire
    from harness.run.fit import result_config
    from harness.run.runs import prepare

    task = task_config(cfg)
    refuse(task)
    run_dir = Path(cfg.hydra.run.dir)
    say(unwritable([(run_dir, "the run's record, checkpoints and log", "hydra.run.dir=<folder>"),
                    *log_folder(task)]))
    held, why = acquire(run_dir)
    if not held:
        say([f"{run_dir} is {why}: a run is training there, and this command would write into "
             "it; wait for it to end, or give this run its own folder (study=<name> or "
             "hydra.run.dir=<path>)"])
    prepare(run_dir, result_config(task, cfg.hydra.launcher))
    return run_dir
