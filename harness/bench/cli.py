"""How much does the harness cost per training step? Against a bare PyTorch loop.

    python -m harness.bench                       # CPU, all families, writes results/bench/
    python -m harness.bench --accelerator gpu     # the same on a GPU

For each family (found in ``harness.models``, with the pairing and step count it declares) the
harness's LightningModule under the harness's Trainer settings and a bare loop calling the
module's own ``train_step`` with plain optimisers (same network, batches, noise, threads) take
a step each in turn in one process (``harness.bench.interleave``), in a few fresh processes. Only the
steps after a warm-up are timed; evaluation is off. Also the sweep: the default study, steps
cut short, with the local parallel launcher against the same study run sequentially.
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.bench.common import (FIXED_MALLOC, WARMUP, compose, declared, fit,
                                  in_fresh_process)
from harness.bench.interleave import harness_and_bare, summary
from harness.core.repo import ROOT

def measure(family: str, threads: int, accelerator: str, queue) -> None:
    """One fresh process: the harness's fit with a bare step after each of its steps
    (``harness.bench.interleave``): both loops' per-step seconds, and the process's peak resident
    memory (both networks)."""
    timed = declared(family)[1]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose(family, timed + WARMUP, threads, accelerator, tmp)
        got = harness_and_bare(cfg, fit, warmup=WARMUP)
    queue.put({**got, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def run_one(family: str, threads: int, accelerator: str) -> dict:
    return in_fresh_process(measure, family, threads, accelerator)


def sweep_seconds(parallel: bool, steps_scale: float, out_dir: Path) -> float:
    """Wall time of the default study (steps scaled down) in a fresh command."""
    from omegaconf import OmegaConf

    study = OmegaConf.load(ROOT / "experiments" / "default.yaml")  # the study's own records
    records = [{**r, "steps": max(20, round(r["steps"] * steps_scale))}
               for r in OmegaConf.to_container(study.hydra.sweeper.records)]
    shown = ",".join("{" + ",".join(f"{k}:{v}" for k, v in r.items()) + "}" for r in records)
    args = [sys.executable, "-m", "harness.train", "-m", "experiment=default", "logger=none",
            "trainer.enable_progress_bar=false", f"hydra.sweeper.records=[{shown}]",
            f"hydra.sweep.dir={out_dir}/sweep", f"paths.results_dir={out_dir}/results",
            "checkpoint_every=0"]
    if not parallel:
        args.append("hydra/launcher=basic")
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def machine() -> dict:
    import platform

    import torch

    from harness.core.record import code_commit

    return {"machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
            "torch": torch.__version__, "commit": code_commit(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench", description=__doc__.split("\n")[0])
    from harness.models import families

    known = sorted(families())
    parser.add_argument("--families", nargs="+", default=known, choices=known)
    parser.add_argument("--repeats", type=int, default=3,
                        help="fresh processes per family, each timing the harness and the "
                             "bare loop a step each in turn; their steps are pooled")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--sweep-scale", type=float, default=0.34,
                        help="fraction of the default study's steps for the sweep timing; 0 skips it")
    parser.add_argument("--whole-runs", type=int, default=1,
                        help="1: also time one whole run of each family's study (alone, and "
                             "as the first of two in one sweep) against its bare steps; 0 skips it")
    parser.add_argument("--tuning", type=int, default=1,
                        help="1 (CPU only): also time the memory formats and thread layouts "
                             "of every study network of --families, and predict full_grid's "
                             "wall time (needs every family); 0 skips it")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench"))
    args = parser.parse_args(argv)
    os.environ.update(FIXED_MALLOC)  # read by each process this one starts, at its start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for family in args.families if args.repeats > 0 else []:
        times: dict[str, list[float]] = {"harness": [], "bare": []}
        peak = 0.0
        for _ in range(args.repeats):
            r = run_one(family, args.threads, args.accelerator)
            for mode in times:
                times[mode] += r[mode]
            peak = max(peak, r["peak_rss_mb"])
            one = summary(r["harness"], r["bare"])
            print(f"{family}: harness {one['a_steps_per_s']:.2f} steps/s, bare "
                  f"{one['b_steps_per_s']:.2f}, in turn: harness/bare {one['ratio']:.3f}  "
                  f"peak {r['peak_rss_mb']:.0f} MB", flush=True)
        got = summary(times["harness"], times["bare"])
        rows.append({"family": family, "accelerator": args.accelerator, "threads": args.threads,
                     "processes": args.repeats, "steps": got["steps"],
                     "harness_steps_per_s": got["a_steps_per_s"],
                     "bare_steps_per_s": got["b_steps_per_s"], "ratio": got["ratio"],
                     "group_median": got["group_median"], "ratio_low": got["low"],
                     "ratio_high": got["high"], "ratio_coverage": got["coverage"],
                     "groups": got["groups"], "peak_rss_mb": peak})
    sweep = None
    if args.sweep_scale > 0 and args.accelerator == "cpu":
        with tempfile.TemporaryDirectory() as tmp:
            seq = sweep_seconds(False, args.sweep_scale, Path(tmp) / "seq")
            par = sweep_seconds(True, args.sweep_scale, Path(tmp) / "par")
        sweep = {"sequential_s": seq, "parallel_s": par, "speedup": seq / par}
        print(f"default study x{args.sweep_scale} steps: sequential {seq:.1f} s, local 2 jobs "
              f"{par:.1f} s, speed-up {seq / par:.2f}x", flush=True)
    whole = []
    if args.whole_runs:
        from harness.bench import wholerun

        whole = wholerun.measure(args.families, ["threads=1"])
    formats, layouts, ops = [], [], {}
    if args.tuning and args.accelerator == "cpu":  # these build their networks on the CPU
        from harness.bench import forecast, tuning

        formats = tuning.memory_formats(args.families)
        layouts = tuning.thread_layouts(args.families)
        ops = forecast.ops_per_step(args.families)
    write(out, rows, sweep, whole, args, machine(), formats, layouts, ops)
    print(f"wrote {out}/bench_{args.accelerator}.csv and {out}/README_{args.accelerator}.md")
    return 0


def _csv(path: Path, rows: list[dict]) -> None:
    if rows:
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


def write(out: Path, rows: list[dict], sweep: dict | None, whole: list[dict], args,
          info: dict, formats=(), layouts=(), ops=None) -> None:
    tag = args.accelerator
    _csv(out / f"bench_{tag}.csv", rows)
    _csv(out / f"whole_runs_{tag}.csv", whole)
    _csv(out / f"memory_format_{tag}.csv", list(formats))
    _csv(out / f"threads_{tag}.csv", list(layouts))
    lines = [f"# Benchmark: harness vs bare PyTorch ({tag})", "",
             "Generated by `python -m harness.bench"
             + (f" --accelerator {tag}`" if tag != "cpu" else "` (`make bench`)")
             + ": do not edit by hand.", "",
             f"- Machine: {info['machine']}; GPU: {info['gpu']}",
             f"- torch {info['torch']}, {args.threads} threads, commit `{info['commit']}`",
             f"- {args.repeats} fresh processes per family. In each, the harness trains as "
             "it does (Lightning, its callbacks and logger; evaluation and checkpoints off) "
             "and after each of its steps a bare loop takes the same step on a twin network "
             "built from the same seed (`harness/bench/interleave.py`): a step of each in turn, so "
             "the machine's drift (10-20% between identical blocks a few seconds apart) "
             "cancels in their ratio. A harness step is timed from the end of the last bare "
             "step to the end of its own (loading its batch, Lightning's hooks, logging); "
             f"{WARMUP} warm-up steps of each process not timed. The ratio is the bare loop's "
             f"summed time over the harness's; in brackets, the median of the ratios of "
             "groups of 10 steps with the sign test's interval. Every process runs with "
             "glibc's malloc thresholds fixed ("
             + ", ".join(f"`{k}={v}`" for k, v in FIXED_MALLOC.items())
             + "), so that neither loop's speed depends on whether the process happened to "
             "free a large block before training", "",
             "| family | timed steps | harness steps/s | bare steps/s | harness/bare steps/s | groups of 10: median [interval, coverage] | peak RSS, both networks (MB) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['family']} | {r['steps']} | {r['harness_steps_per_s']:.2f} | "
                     f"{r['bare_steps_per_s']:.2f} | **{r['ratio']:.3f}** | "
                     f"{r['group_median']:.3f} [{r['ratio_low']:.3f}..{r['ratio_high']:.3f}, "
                     f"{r['ratio_coverage']:.1%}] | {r['peak_rss_mb']:.0f} |")
    if sweep:
        lines += ["", f"Default study with every run's steps x{args.sweep_scale}: sequential "
                  f"(one job, {os.cpu_count()} threads) {sweep['sequential_s']:.1f} s; local launcher "
                  f"(2 jobs, cores split) {sweep['parallel_s']:.1f} s; speed-up "
                  f"**{sweep['speedup']:.2f}x**."]
    if whole:
        from harness.bench.wholerun import markdown

        lines += ["", "## Whole runs", "",
                  "One run of each family's study as the study runs it (1 thread, evaluation on, "
                  "the family's default memory format), timed as a process. The bare loop's "
                  "time for the same training steps is the run's own training loop times the "
                  "ratio of bare to harness time per step, measured at the run's settings "
                  "(threads, logging, checkpoints; evaluation off) with a step of each in turn "
                  "in a fresh process (200 steps; shown as harness time / bare time, in "
                  "brackets the 10-step groups' sign-test interval): a bare loop timed in "
                  "another process would differ by the machine's drift (the same training "
                  "loop took 1.7x as long in one process as in another an hour apart), not by "
                  "the harness. The drift cancels in the training loop, not in the fixed "
                  "phases: a run timed while the machine is slow reads a higher efficiency "
                  "than the same run while it is fast. Efficiency = bare loop / harness wall. "
                  "Phases in seconds, from the run's record (`phases_s`); imports "
                  "from `-X importtime` in the same process; rest = the wall time left (the "
                  "interpreter, Hydra's composition and job set-up, closing the logger, exit). "
                  "The measuring (baseline, scheduled and final evaluations: the study's "
                  "curves and metrics) is work the study asks for; the efficiency less the "
                  "measuring is bare loop / (harness wall - measuring). In a study the runs of "
                  "one job share a process, its imports and the held-out side of its metrics: "
                  "the same run as the first of two seeds in one sweep process (no report) "
                  "gives the efficiency in a sweep (both runs' bare loops over the process's "
                  "wall), and its second run's own wall time (from its record) what each "
                  "later run of a job costs.", "", *markdown(whole)]
    if formats or layouts:
        from harness.bench.tuning import markdown as tuning_markdown

        lines += ["", "## Memory format and threads", "",
                  "Every network a committed study trains, at its own width and image size, bare "
                  "training steps at 1 thread: contiguous against channels_last, built from one "
                  "seed in one process, a step of each in turn (speed-up: the summed times' "
                  "ratio; interval: the sign test's on groups of 10 steps). Then two jobs' steps "
                  "as two 1-thread processes at once (started behind a barrier) against one "
                  "2-thread process's time for one job's steps, counted twice "
                  "(`harness/bench/tuning.py`). channels_last becomes a family's default where it is "
                  "faster by more than 5%, its interval above 1, for every network of the "
                  "family (a smaller gain is not worth a default that changes every study's "
                  "numerics, and so their re-runs), and stops being one only where a network "
                  "is measurably slower with it (its interval below 1): a measurement that "
                  "cannot tell either way leaves the default as it is.", "",
                  *tuning_markdown(list(formats), list(layouts))]
    if whole and layouts:
        from harness.bench.forecast import markdown as forecast_markdown

        forecast = forecast_markdown(whole, list(layouts), ops or {})
        lines += ["", *forecast] if forecast else []
    (out / f"README_{tag}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
