"""The learning-rate search: a fixed grid of real seg runs, every rate's score and the best kept
where a comparison reads it back (``harness/run/tuned.py``)."""
import csv
import json

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from helpers import CONF, ROOT, run_cli
from harness.run.tuned import tuned


@pytest.mark.slow
def test_a_tiny_grid_writes_every_rates_score_and_the_best_where_a_study_reads_it(tmp_path):
    """Two rates x two seeds of a tiny run: each rate scored by the median over its seeds of
    the mean mIoU of its last 3 evaluations (computed here again from the runs' histories),
    the best kept under <scaling>/<head> and every score in grid.md."""
    results = tmp_path / "results"
    r = run_cli("-m", "experiment=seg_lr_search", "scaling=unit", "head=identity",
                "model.module.lr=1e-4,3e-2", "seed=0,1", "steps=4", "eval_every=1",
                "data.n_train=64", "data.n_val=16", "data.image_size=32", "logger=none",
                f"hydra.sweep.dir={tmp_path}/sweep", f"paths.results_dir={results}", cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    best = yaml.safe_load((results / "seg_lr_search" / "best.yaml").read_text())["unit/identity"]
    scores = {}
    for run in (tmp_path / "sweep").glob("*/run.json"):
        rec = json.loads(run.read_text())
        rows = list(csv.DictReader((run.parent / "history.csv").open()))
        lr = rec["config"]["model"]["module"]["lr"]
        scores.setdefault(lr, []).append(sum(float(h["miou"]) for h in rows[-3:]) / 3)
    assert sorted(scores) == [1e-4, 3e-2] and all(len(v) == 2 for v in scores.values())
    medians = {lr: sum(v) / 2 for lr, v in scores.items()}
    assert best["model.module.lr"] == max(medians, key=medians.get)
    assert best["value"] == pytest.approx(max(medians.values()))
    assert best["scores"] == pytest.approx(medians)
    grid = (results / "seg_lr_search" / "grid.md").read_text()
    row = next(line for line in grid.splitlines() if line.startswith("| unit/identity |"))
    assert row.count("**") == 2  # the chosen rate, in bold
    assert (results / "seg_lr_search" / "grid.png").stat().st_size > 10_000
    for lr, seeds in scores.items():  # every rate: its median and its lowest and highest seed
        lo, hi = sorted(seeds)
        cell = f"{medians[lr]:.3f} [{lo:.3f}, {hi:.3f}] (2)"
        assert (f"**{cell}**" if lr == best["model.module.lr"] else f" {cell} ") in row, row
    file = results / "seg_lr_search" / "best.yaml"
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", [f"model.module.lr=${{tuned:{file},unit/identity,"
                                f"model.module.lr}}"])
    assert cfg.model.module.lr == best["model.module.lr"]


def test_a_rate_not_searched_yet_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no searched model.module.lr for 'raw/sigmoid'.*run the "
                                         "search"):
        tuned(str(tmp_path / "best.yaml"), "raw/sigmoid", "model.module.lr")


def test_the_search_measures_on_training_images_and_never_loads_the_held_out_split():
    from harness.data.seg import SegData

    kw = dict(source="mosaic", channels=3, image_size=32, n_classes=5, batch_size=8, steps=2,
              seed=0, n_train=64, n_val=16, mosaic={"texture_size": 64})
    test, val = SegData(**kw), SegData(**kw, eval_split="validation")
    test.setup(), val.setup()
    assert len(val.val_images) == 16 and len(val.train_images) == 48
    assert (val.val_images == test.train_images[:16]).all()  # carved from the training images
    assert (val.train_images == test.train_images[16:]).all()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", ["experiment=seg_lr_search", "scaling=raw"],
                      return_hydra_config=True)
    assert cfg.data.eval_split == "validation" and cfg.model.module.net.norm == "none"
    assert OmegaConf.select(cfg, "hydra.callbacks.best.direction") == "max"


def test_the_grid_figure_rings_each_keys_chosen_value_and_shows_every_seed():
    from harness.report.grid import grid_figure

    table = {"raw/identity": {"lr": 1e-3, "scores": {1e-4: [0.2, 0.3, 0.4], 1e-3: [0.8, 0.9, 0.7],
                                                     1e-2: [0.1, 0.5, 0.6]}},
             "unit/sigmoid": {"lr": 1e-2, "scores": {1e-4: [0.5], 1e-2: [0.9, 0.95]}}}
    ax = grid_figure(table, "lr", "miou", 3).axes[0]
    rings = [(tuple(line.get_xdata()), tuple(line.get_ydata())) for line in ax.get_lines()
             if line.get_gid() == "chosen"]
    assert rings == [((1e-3,), (0.8,)), ((1e-2,), (0.925,))]  # each key's median at its choice
    medians = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()
               if not line.get_label().startswith("_")}
    assert medians == {"raw/identity": [0.3, 0.8, 0.5], "unit/sigmoid": [0.5, 0.925]}
    dots = sorted(y for line in ax.get_lines() if line.get_marker() == "."
                  for y in line.get_ydata())
    assert dots == sorted([0.2, 0.3, 0.4, 0.8, 0.9, 0.7, 0.1, 0.5, 0.6, 0.5, 0.9, 0.95])
    assert ax.get_xscale() == "log"
