"""What a user waits for: one whole run of each family's study, against the bare training steps.

A steps/s ratio says nothing about start-up, the untrained baseline, the scheduled and final
evaluations, grids or the record. Here one run of the family's committed study (its first
record, seed 0, as the study runs it: evaluation on) is timed as a process, and the run's own
record says where the time went; the bare reference is the same training steps in a plain loop
(``harness.bench.bare_steps``), timed alone in a fresh process.

    python -m harness.bench            # writes this table too (``--whole-runs 0`` skips it)
"""
from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("build", "baseline", "evaluations", "final_evaluation", "training_loop", "grids")


def family_studies() -> dict[str, list[str]]:
    """family -> the overrides of one run of the first study in experiments/ that holds only
    that family: ``experiment=<name>`` plus its first record, seed 0."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from .train import CONF_DIR, family_of

    found: dict[str, list[str]] = {}
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for path in sorted((ROOT / "experiments").glob("*.yaml")):
            base = [f"experiment={path.stem}"]
            sweeper = compose("train", base, return_hydra_config=True).hydra.sweeper
            records = OmegaConf.to_container(sweeper.records) if sweeper.get("records") else []
            models = {r.get("model") for r in records} | {None}
            if "model" in (sweeper.get("params") or {}) or len(models) > 2:
                continue  # a study over several models or families
            overrides = [*base, *(f"{k}={v}" for k, v in (records[:1] or [{}])[0].items()), "seed=0"]
            family = family_of(compose("train", overrides)).family
            found.setdefault(family, overrides)
    return found


def harness_run(overrides: list[str], extra: list[str]) -> dict:
    """One run as a user starts it: the process's wall time and the run's record."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, "-m", "harness.train", *overrides, *extra,
                f"hydra.run.dir={tmp}/run", f"paths.log_dir={tmp}/logs",
                "trainer.enable_progress_bar=false"]
        start = time.perf_counter()
        subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
        wall = time.perf_counter() - start
        rec = json.loads((Path(tmp) / "run" / "run.json").read_text())
    return {"wall_s": wall, "phases_s": rec["phases_s"], "steps": rec["steps"]}


def _bare(overrides: list[str], queue) -> None:
    from hydra import compose, initialize_config_dir

    from .bench import bare_steps
    from .train import CONF_DIR, build_run

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", [*overrides, "checkpoint_every=0"])  # one epoch: every step
    model, data = build_run(cfg)
    model.use_data(data)
    model.train()
    batches = list(data.train_dataloader())
    start = time.perf_counter()
    bare_steps(model, batches)
    queue.put(time.perf_counter() - start)


def bare_run(overrides: list[str], extra: list[str]) -> float:
    """Seconds for the run's training steps alone, in a plain loop in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_bare, args=([*overrides, *extra], queue))
    p.start()
    seconds = queue.get()
    p.join()
    return seconds


def measure(families: list[str], extra: list[str]) -> list[dict]:
    rows = []
    for family, overrides in family_studies().items():
        if family not in families:
            continue
        h, b = harness_run(overrides, extra), bare_run(overrides, extra)
        inside = sum(h["phases_s"].values())
        row = {"family": family, "run": " ".join(overrides + extra), "steps": h["steps"],
               "channels_last": "channels_last=true" in extra,
               "harness_wall_s": h["wall_s"], "bare_steps_s": b,
               "efficiency": b / h["wall_s"],
               "startup_and_record_s": h["wall_s"] - inside, **h["phases_s"]}
        print(f"{family}: whole run {h['wall_s']:.1f} s, bare steps {b:.1f} s, "
              f"efficiency {row['efficiency']:.3f}", flush=True)
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> list[str]:
    head = ["family", "run", "steps", "harness wall (s)", "bare steps (s)", "efficiency",
            "start-up + record", *PHASES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["family"], f"`{r['run']}`", str(r["steps"]), f"{r['harness_wall_s']:.1f}",
                 f"{r['bare_steps_s']:.1f}", f"{r['efficiency']:.3f}",
                 f"{r['startup_and_record_s']:.1f}", *(f"{r.get(p, 0):.1f}" for p in PHASES)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
