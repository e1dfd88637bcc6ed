"""A run's bookkeeping: reuse, set-aside, resume, the record, and the lines a sweep prints.

Every run that starts ends with a ``run.json`` (status ``ok``, ``diverged``, ``failed``,
``interrupted`` or ``skipped``) and its HParams row; ``run`` raises only ``KeyboardInterrupt``
(after recording ``interrupted``), so a sweep goes on whatever one run does and stops on Ctrl-C.
A run directory held by another live process is left to it: nothing is written there.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from harness.run.console import first_in_sweep, in_sweep, progress
from harness.run.checkpoints import LAST, load_or_set_aside
from harness.run.fit import CKPT_DIR, family_of, pixels_of, result_config, train
from harness.run.hparams import log_record, log_version, make_logger
from harness.core.lock import LOCK, acquire, release
from harness.core.machine import machine
from harness.core.record import (RUNNING, SET_ASIDE, code_commit, code_digest, config_key,
                                 read_record, same_code, same_config, write_json)

log = logging.getLogger("harness")


def run(cfg: DictConfig, run_dir: Path) -> dict:
    """Train and record; a finished ``ok`` run of the same config is reused, not re-run. A run
    directory another live process holds is left to it (status ``skipped``, nothing written)."""
    config = result_config(cfg)
    held, why = acquire(run_dir)
    if not held:
        rec = {"status": "skipped", "message": f"{why}: left to it", **names(cfg),
               "overrides": overrides_text()}
        log.warning(progress_line(rec, run_dir))
        return rec
    if why:
        log.warning("%s: %s", run_dir, why)
    try:
        previous = prepare(run_dir, config)
        if previous:
            log.info(progress_line(previous, run_dir, reused=True))
            return previous
        return _train_and_record(cfg, config, run_dir)
    finally:
        release(run_dir)


def overrides_text() -> str:
    return " ".join(HydraConfig.get().overrides.task) if HydraConfig.initialized() else ""


def names(cfg: DictConfig) -> dict:
    """What a sweep's lines call a run: its model, scaling, head and seed."""
    return {"model": cfg.model.name, "scaling": cfg.scaling.name, "head": cfg.head.name,
            "seed": cfg.seed}


def _train_and_record(cfg: DictConfig, config: dict, run_dir: Path) -> dict:
    from harness.models.base import Diverged, Skipped
    from harness.core.pixels import range_mismatch

    started, clock = time.time(), time.perf_counter()  # the record's wall time and its setup
    resume_from, before, resume_at = checkpoint_to_resume(run_dir, config)
    key = config_key(config)
    rec = {"status": "ok", "message": "", "study": cfg.study, "family": None, **names(cfg),
           "steps": cfg.steps, "range_mismatch": None,
           # changes the float order, so the numbers: a report cell never mixes the two
           "memory_format": "channels_last" if cfg.channels_last else "contiguous",
           # so do the CPU's instruction set and the GPU: the processor the numbers came from
           "machine": machine(gpu=str(cfg.trainer.get("accelerator")) in ("gpu", "cuda", "auto")),
           "primary_metric": None, "primary_direction": None, "primary_units": None,
           "metrics": {},
           "config_key": key, "log_version": log_version(cfg, key, run_dir),
           "started": datetime.now().isoformat(timespec="seconds"), "commit": code_commit(),
           "code_digest": code_digest(),  # reused only by this code (reuse=any: by any)
           "command": "python -m harness.train " + " ".join(sys.argv[1:]),
           "overrides": overrides_text()}
    logger, interrupted, error_log = None, None, None
    try:
        write_json(run_dir / RUNNING, {"config": config, "code_digest": code_digest()})
        family, (scaling, head) = family_of(cfg), pixels_of(cfg)  # resolved once, passed on
        rec.update(family=family.family, primary_metric=family.primary[0],
                   primary_direction=family.primary[1], primary_units=family.units,
                   threads=config["threads"],  # the count result_config resolved
                   # a head on class scores (seg) has no pixel interval to miss
                   range_mismatch=family.pixel_output and range_mismatch(head, scaling))
        if rec["range_mismatch"] and first_in_sweep(f"range:{scaling.name}+{head.name}"):
            lo, hi = head.bounds(scaling.lo, scaling.hi)
            log.warning("range mismatch: head %s reaches [%s, %s], not all of scaling %s's "
                        "[%s, %s]; part of the data range cannot be produced",
                        head.name, _interval(lo), _interval(hi), scaling.name,
                        _interval(scaling.lo), _interval(scaling.hi))
        rec["resumed_from"] = str(resume_from) if resume_from else None
        if resume_from:
            log.info("%s: resuming from step %d of %d (%s)", run_dir, resume_at[0], cfg.steps,
                     resume_from)
        logger = make_logger(cfg, key, run_dir, fresh=resume_from is None)
        setup = time.perf_counter() - clock  # resume check, record start, logger
        rec["metrics"], phases = train(cfg, run_dir, logger, resume_from, (scaling, head),
                                       resume_at)
        rec["phases_s"] = {"setup": round(setup, 3), **phases}
    except Skipped as e:
        rec.update(status="skipped", message=str(e))
    except Diverged as e:
        rec.update(status="diverged", message=str(e))
    except (KeyboardInterrupt, SystemExit) as e:  # Lightning turns Ctrl-C into SystemExit(1)
        interrupted = e
        rec.update(status="interrupted", message=resume_hint(run_dir))
    except Exception as e:  # noqa: BLE001 - any failure is recorded, never lost
        rec.update(status="failed", message=f"{type(e).__name__}: {e}")
        error_log = traceback.format_exc()
    part = time.time() - started
    rec["wall_time_s"] = round(before + part, 3)  # the work before a resume counts too
    rec["wall_time_parts_s"] = [round(before, 3), round(part, 3)] if resume_from else [round(part, 3)]
    rec["config"] = config
    recorded = write_record(run_dir, rec, error_log, logger)
    if recorded and rec["status"] not in ("failed", "interrupted"):  # those keep their checkpoint
        shutil.rmtree(run_dir / CKPT_DIR, ignore_errors=True)
        (run_dir / RUNNING).unlink(missing_ok=True)
    log.info(progress_line(rec, run_dir))
    if interrupted is not None and not in_cluster_job():
        raise KeyboardInterrupt(rec["message"]) from None  # stop the sweep too
    return rec


def write_record(run_dir: Path, rec: dict, error_log: str | None, logger) -> bool:
    """``run.json`` first, then the traceback and the HParams row: a failure to write those
    (a full disk) never hides the record, and one to write the record is one line; returns
    whether the record is on disk (else the checkpoint stays, and the same command resumes)."""
    try:
        write_json(run_dir / "run.json", rec)
    except OSError as e:
        log.error("%s: its record could not be written (%s); free space or make it writable, "
                  "and the same command resumes it", run_dir, e.strerror or e)
        rec["message"] = (rec["message"] + "; " if rec["message"] else "") + "no record written"
        return False
    for what, write in (("error.log", lambda: (run_dir / "error.log").write_text(error_log)
                         if error_log else None),
                        ("its HParams row", lambda: log_record(logger, rec))):
        try:
            write()
        except OSError as e:
            log.warning("%s: %s could not be written (%s); the record is intact", run_dir,
                        what, e.strerror or e)
    return True


def in_cluster_job() -> bool:
    """Whether this process is a submitit job (``hydra/launcher=slurm`` or ``submitit_local``).
    There a signal (``scancel``, preemption) stops this run only, and the sweep waiting for it
    needs its record back: a job that raises ``KeyboardInterrupt`` leaves no result, and on a
    cluster without accounting submitit cannot tell it ended, so the sweep would wait for ever."""
    return "SUBMITIT_FOLDER" in os.environ  # set by submitit in the job, before the run starts


def _interval(x) -> str:
    """A bound as the head and scaling give it: a number, or one per channel."""
    import torch

    values = torch.as_tensor(x, dtype=torch.float64).flatten().unique().tolist()
    return " / ".join(f"{v:g}" for v in values)


def resume_hint(run_dir: Path) -> str:
    """The one line an interrupted run prints: how to go on."""
    if (run_dir / CKPT_DIR / LAST).is_file():
        return f"interrupted; the same command resumes it from {run_dir / CKPT_DIR / LAST}"
    return "interrupted before its first checkpoint; the same command starts it again"


def prepare(run_dir: Path, config: dict) -> dict | None:
    """Before anything of a run is opened: the finished record to reuse, if it is this config's;
    a finished run of another config is set aside (with its ``.hydra/`` and log), never
    overwritten. Sweeps call it before launching a job, single runs before Hydra starts."""
    run_dir = Path(run_dir)
    previous = read_record(run_dir / "run.json")
    if same_config(previous, config):
        return previous
    if previous and config_key(previous.get("config") or {}) != config_key(config):
        same_but_data = config_key({**(previous.get("config") or {}), "data_digest": None}) \
            == config_key({**config, "data_digest": None})
        set_aside(run_dir, previous, "the files under data.root changed since" if same_but_data
                  else "config changed since")  # whatever its status
    elif previous and not same_code(previous, config):  # its numbers, or its checkpoint
        kept = previous.get("status") == "ok" or (run_dir / CKPT_DIR / LAST).is_file()
        set_aside(run_dir, previous, f"other code (commit {previous.get('commit')}, sources "
                                     f"{previous.get('code_digest') or 'unrecorded'}) made",
                  "; reuse=any would have " + ("reused it" if previous.get("status") == "ok"
                                               else "resumed it") if kept else "")
    else:  # a retry of this config (failed, diverged, interrupted): its old error goes
        (run_dir / "error.log").unlink(missing_ok=True)
    return None


def checkpoint_to_resume(run_dir: Path, config: dict
                         ) -> tuple[Path | None, float, tuple[int, int]]:
    """The last checkpoint of an interrupted run of this config, if there is one; the wall
    time that run had spent up to it; and where it stopped: (batches, epochs) done (its epochs
    were cut by its own ``checkpoint_every``, which need not be this run's)."""
    ckpt = run_dir / CKPT_DIR / LAST
    running = read_record(run_dir / RUNNING)  # a killed run has no record, only this
    if not (ckpt.is_file() and same_config({"status": "ok", **(running or {})}, config)):
        return None, 0.0, (0, 0)
    saved = load_or_set_aside(ckpt)
    if saved is None:
        return None, 0.0, (0, 0)
    # written at the end of epoch `epoch` (ModelCheckpoint, every epoch): epoch + 1 are done
    at = (int(saved.get("steps_done", 0)), int(saved.get("epoch", -1)) + 1)
    return ckpt, float(saved.get("wall_time_s", 0.0)), at


def set_aside(run_dir: Path, previous: dict, why: str, hint: str = "") -> None:
    """Move a run of another config, or of other code, out of the way instead of overwriting
    it, whatever its status; ``why`` completes "<why> the <status> run in <dir>". The folder is
    named by the time that run started (a second one of the same second: ``-2``, ...)."""
    stamp = str(previous.get("started", "earlier")).replace(":", "-")
    keep, n = run_dir / f"{SET_ASIDE}{stamp}", 1
    while keep.exists():
        n += 1
        keep = run_dir / f"{SET_ASIDE}{stamp}-{n}"
    keep.mkdir(parents=True)
    for f in run_dir.iterdir():
        if not f.name.startswith(SET_ASIDE) and f.name != LOCK:
            f.rename(keep / ("record.json" if f.name == "run.json" else f.name))
    status = previous.get("status")
    log.warning("%s the %s run in %s: kept it in %s%s", why,
                "finished" if status == "ok" else status, run_dir, keep, hint)


def progress_line(rec: dict, run_dir: Path, reused: bool = False) -> str:
    """``[7/27] gan raw identity seed=1 ok swd=123.4 (52 s) | 9/27 done in 4:10, about 8:20
    left -> <run dir>``; in a sweep it also notes the job as finished (``console.progress``),
    and names the run's folder inside the sweep folder, which its opening line names (the whole
    path made lines of up to 235 characters)."""
    where, sweep, folder = "", "", run_dir
    if in_sweep():
        total = os.environ.get("HARNESS_SWEEP_TOTAL", "?")
        where = f"[{HydraConfig.get().job.num + 1}/{total}] "
        sweep_dir = Path(HydraConfig.get().sweep.dir)
        folder = os.path.relpath(run_dir, sweep_dir)
        if total.isdigit():
            sweep = progress(sweep_dir, int(total), {
                "model": rec.get("model"), "steps": rec.get("steps"),
                "wall_s": None if reused else rec.get("wall_time_s")})
            sweep = f" | {sweep}" if sweep else ""
    metric = rec.get("primary_metric")
    value = (rec.get("metrics") or {}).get(metric)
    shown = f" {metric}={value:.4g}" if isinstance(value, (int, float)) else ""
    message = rec["message"].removeprefix(f"{rec['status']}; ")  # "interrupted: interrupted; ..."
    other = reused and rec.get("code_digest") != code_digest()  # reuse=any said so
    note = (" (already done" + (f", by other code: commit {rec.get('commit')})" if other else ")")
            if reused else (f": {message}" if message else ""))
    took = rec.get("wall_time_s")
    took = f" ({took:.0f} s)" if isinstance(took, (int, float)) and not reused else ""
    return (f"{where}{rec['model']} {rec['scaling']} {rec['head']} seed={rec['seed']} "
            f"{rec['status']}{shown}{note}{took}{sweep}  -> {folder}")
