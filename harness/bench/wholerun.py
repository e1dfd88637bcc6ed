"""What a user waits for: one whole run of each family's study, against the bare training steps.

A steps/s ratio says nothing about start-up, the untrained baseline, the scheduled and final
evaluations, grids or the record. Here one run of the family's committed study (its first
record, seed 0, as the study runs it: evaluation on) is timed as a process, and the run's own
record says where the time went. The bare reference is the same training steps in a plain loop
(``harness.bench.common.bare_steps``): the run's own training loop times the ratio of bare to harness
time per step, measured at the run's settings with a step of each in turn
(``harness.bench.interleave``). Timed alone in another process, the bare loop would differ by the
machine's drift between processes (on the 2-core CPU 10-20%, once 1.7x for one loop an hour
apart), not by what the harness costs.

Where the rest goes is measured too: the imports by Python's own ``-X importtime`` in the same
process, the rest (interpreter, Hydra's composition and job set-up, closing the logger, exit)
is what is left. A study does not pay the imports per run: its runs share a process (one per
parallel job), so the same run is also timed as the first of two in one sweep process.

    python -m harness.bench            # writes this table too (``--whole-runs 0`` skips it)
"""
from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.core.repo import CONF_DIR, ROOT

import yaml

PHASES = ("setup", "build", "baseline", "evaluations", "final_evaluation", "training_loop",
          "grids")
MEASURING = ("baseline", "evaluations", "final_evaluation")  # the study's instrument, not overhead


@functools.cache  # composing every study takes seconds; the files do not change in a process
def study_networks() -> dict[str, tuple[str, bool, list[str]]]:
    """``<study>: <model>`` -> (family, whether the study holds that family alone, overrides):
    every network the committed studies train, once per study, as that study's first run of
    it: its first record of that model, every other swept key at its first value (seed 0). A
    study that sweeps a ``model.*`` key (seg_scaling's norm) trains one network per value. The
    full grid is left out: it trains the defaults the other studies measure; so are searches
    (a grid with a ``BestGrid`` callback), whose networks their comparison studies train."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from harness.run.fit import family_of

    found: dict[str, tuple[str, bool, list[str]]] = {}
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for path in sorted((ROOT / "experiments").glob("*.yaml")):
            base = [f"experiment={path.stem}"]
            hydra = compose("train", base, return_hydra_config=True).hydra
            sweeper = hydra.sweeper
            if "BestGrid" in str(OmegaConf.select(hydra, "callbacks.best._target_")):
                continue  # a search: it trains a network its comparison study trains
            params = {k: str(v).split(",") for k, v in (sweeper.get("params") or {}).items()}
            if "model" in params:
                continue
            records = OmegaConf.to_container(sweeper.records) if sweeper.get("records") else [{}]
            grid = [[]]
            for key, values in params.items():
                pinned = values if _sets_model(key, values[0]) else values[:1]
                grid = [[*g, f"{key}={v}"] for g in grid for v in pinned]
            seed = [] if "seed" in params or "seed" in records[0] else ["seed=0"]
            first = lambda v: v[0] if isinstance(v, list) else v  # noqa: E731 (seed: [0, 1])
            runs = [[*base, *(f"{k}={first(v)}" for k, v in rec.items() if k not in params),
                     *extra,
                     *seed] for rec in records for extra in grid]
            # one compose per network: runs that differ only outside model.* train the same one
            networks = {tuple(o for o in r if _sets_model(*o.split("=", 1))): r
                        for r in reversed(runs)}
            runs = [r for r in runs if r in networks.values()]
            cfgs = [compose("train", r) for r in runs]
            families = {family_of(cfg).family for cfg in cfgs}
            for overrides, cfg in zip(runs, cfgs):
                found.setdefault(f"{path.stem}: {cfg.model.name}",
                                 (family_of(cfg).family, len(families) == 1, overrides))
    return found


def _sets_model(key: str, value: str) -> bool:
    """Whether an override changes the network: a ``model.*`` key, or a config group whose
    option (``conf/<group>/<value>.yaml``, global package) sets ``model`` keys (``model=``,
    ``+seg_arm=``, ``experiment=``: the last is the same for every run of a study)."""
    if key.startswith("model."):
        return True
    option = ROOT / "conf" / key.lstrip("+~") / f"{value}.yaml"
    return option.exists() and "model" in (yaml.safe_load(option.read_text()) or {})


def family_studies() -> dict[str, list[str]]:
    """family -> the overrides of the first run of the first study in experiments/ that holds
    only that family."""
    found: dict[str, list[str]] = {}
    for family, alone, overrides in study_networks().values():
        if alone:
            found.setdefault(family, overrides)
    return found


def import_seconds(stderr: str) -> float:
    """Seconds a process spent importing, from ``-X importtime``'s lines: the cumulative time
    of each top-level import (nested ones are indented and already inside it)."""
    total = 0
    for line in stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[2][:2] != "  ":
            cumulative = parts[1].strip()
            total += int(cumulative) if cumulative.isdigit() else 0
    return total / 1e6


def harness_run(overrides: list[str], extra: list[str], seeds: int = 1) -> dict:
    """One run as a user starts it (``seeds`` > 1: that many seeds in one sweep process, as a
    study's job runs them), in this process's environment (under the bench: its fixed malloc
    thresholds): the process's wall time, its imports and the first run's record. Imports made
    inside a phase (a data source's, TensorBoard's) count in both, so the rest is a little low."""
    with tempfile.TemporaryDirectory() as tmp:
        where = ([f"hydra.run.dir={tmp}/run"] if seeds == 1 else
                 [f"seed={','.join(map(str, range(seeds)))}", "hydra/launcher=basic",
                  f"hydra.sweep.dir={tmp}/sweep", "hydra.sweep.subdir=${seed}",
                  "~hydra.callbacks.report"])  # the report is once per study, not per run
        args = [sys.executable, "-X", "importtime", "-m", "harness.train",
                *([] if seeds == 1 else ["-m"]),
                *(o for o in overrides if seeds == 1 or not o.startswith("seed=")), *extra,
                *where, f"paths.log_dir={tmp}/logs", "trainer.enable_progress_bar=false"]
        start = time.perf_counter()
        done = subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - start
        first = Path(tmp) / ("run" if seeds == 1 else "sweep/0") / "run.json"
        rec = json.loads(first.read_text())
        # a later run of the same job: the process, its imports and shared caches already there
        later = ([] if seeds == 1 else
                 [json.loads((Path(tmp) / f"sweep/{s}/run.json").read_text())
                  for s in range(1, seeds)])
    return {"wall_s": wall, "imports_s": import_seconds(done.stderr),
            "phases_s": rec["phases_s"], "steps": rec["steps"],
            "eval_every": rec["config"]["eval_every"], "later": later}


PAIRED_STEPS = 200  # two checkpoint chunks at the studies' checkpoint_every (100)


def _paired(overrides: list[str], queue) -> None:
    """The run's own settings, evaluation off: its harness steps and bare steps in turn."""
    from hydra import compose, initialize_config_dir

    from harness.bench.common import WARMUP, fit
    from harness.bench.interleave import harness_and_bare

    with tempfile.TemporaryDirectory() as tmp:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = compose("train", [*overrides, "eval_every=0", f"steps={PAIRED_STEPS + WARMUP}",
                                    f"paths.log_dir={tmp}/logs",
                                    "trainer.enable_progress_bar=false"])
        queue.put(harness_and_bare(cfg, fit, warmup=WARMUP))


def loop_ratio(overrides: list[str], extra: list[str]) -> dict:
    """Bare time over harness time per training step at the run's settings (threads, logging,
    checkpoints), a step of each in turn in one fresh process (``harness.bench.interleave``)."""
    from harness.bench.common import in_fresh_process
    from harness.bench.interleave import summary

    got = in_fresh_process(_paired, [*overrides, *extra])
    return summary(got["harness"], got["bare"])


def measure(families: list[str], extra: list[str] = ()) -> list[dict]:
    """Per family: one whole run as a process, the same run as the first of two in one sweep
    process, and the harness's per-step speed against the bare loop's at the run's settings.
    The bare loop's time for the run's steps is the run's own training loop times that ratio:
    measured in the same process as the run, so the machine's drift between processes (10-20%)
    does not enter the efficiency."""
    rows = []
    for family, overrides in family_studies().items():
        if family not in families:
            continue
        h = harness_run(overrides, list(extra))
        pair = harness_run(overrides, list(extra), seeds=2)
        turn = loop_ratio(overrides, list(extra))
        ratio = turn["ratio"]  # bare / harness seconds per step
        loop = h["phases_s"]["training_loop"]
        bare = loop * ratio
        measuring = sum(h["phases_s"].get(p, 0.0) for p in MEASURING)
        inside = sum(h["phases_s"].values())
        (later,) = pair["later"]
        loops = [pair["phases_s"]["training_loop"], later["phases_s"]["training_loop"]]
        row = {"family": family, "run": " ".join([*overrides, *extra]), "steps": h["steps"],
               "eval_every": h["eval_every"],
               "harness_wall_s": h["wall_s"], "bare_steps_s": bare, "efficiency": bare / h["wall_s"],
               "imports_s": h["imports_s"], **{p: h["phases_s"].get(p, 0.0) for p in PHASES},
               "rest_s": h["wall_s"] - h["imports_s"] - inside,
               "loop_over_bare": 1 / ratio, "loop_over_bare_low": 1 / turn["high"],
               "loop_over_bare_high": 1 / turn["low"], "loop_coverage": turn["coverage"],
               "sweep_of_2_wall_s": pair["wall_s"],
               "sweep_efficiency": sum(loops) * ratio / pair["wall_s"],
               "sweep_loops_s": " ".join(f"{x:.3f}" for x in loops),
               "second_run_s": later["wall_time_s"],
               "second_run_efficiency": loops[1] * ratio / later["wall_time_s"],
               "measuring_s": measuring,
               "efficiency_without_measuring": bare / (h["wall_s"] - measuring)}
        print(f"{family}: whole run {h['wall_s']:.1f} s (imports {h['imports_s']:.1f} s, "
              f"measuring {measuring:.1f} s, training loop {loop:.1f} s, harness/bare per step "
              f"{1 / ratio:.3f}): efficiency {row['efficiency']:.3f}; two seeds in one sweep "
              f"{pair['wall_s']:.1f} s, the second run {later['wall_time_s']:.1f} s: efficiency "
              f"{row['second_run_efficiency']:.3f}", flush=True)
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> list[str]:
    head = ["family", "run", "steps", "harness wall (s)", "bare loop, same steps (s)",
            "efficiency", "imports", *PHASES, "rest", "harness/bare time per step, in turn",
            "efficiency less the measuring", "2 seeds, one sweep (s)", "efficiency in a sweep",
            "its second run (s)", "second run's efficiency"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["family"], f"`{r['run']}`", str(r["steps"]), f"{r['harness_wall_s']:.1f}",
                 f"{r['bare_steps_s']:.1f}", f"**{r['efficiency']:.3f}**", f"{r['imports_s']:.1f}",
                 *(f"{r[p]:.1f}" for p in PHASES), f"{r['rest_s']:.1f}",
                 f"{r['loop_over_bare']:.3f} [{r['loop_over_bare_low']:.3f}.."
                 f"{r['loop_over_bare_high']:.3f}]", f"{r['efficiency_without_measuring']:.3f}",
                 f"{r['sweep_of_2_wall_s']:.1f}", f"**{r['sweep_efficiency']:.3f}**",
                 f"{r['second_run_s']:.1f}", f"**{r['second_run_efficiency']:.3f}**"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
