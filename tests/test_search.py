"""The learning-rate search: Hydra's Optuna sweeper over real seg runs, its best value kept
where a comparison reads it back (``harness/run/tuned.py``)."""
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from helpers import CONF, ROOT, run_cli
from harness.run.tuned import tuned


@pytest.mark.slow
def test_two_trials_of_a_tiny_run_write_the_best_rate_where_a_study_reads_it(tmp_path):
    results = tmp_path / "results"
    r = run_cli("-m", "experiment=seg_lr_search", "scaling=unit", "steps=3",
                "hydra.sweeper.n_trials=2", "data.n_train=64", "data.n_val=16",
                "data.image_size=32", "logger=none", f"hydra.sweep.dir={tmp_path}/sweep",
                f"paths.results_dir={results}", cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    best = yaml.safe_load((results / "seg_lr_search" / "best.yaml").read_text())
    trials = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    lr = best["unit"]["model.module.lr"]
    assert lr == trials["best_params"]["model.module.lr"] and 1e-4 <= lr <= 3e-2
    assert best["unit"]["value"] == pytest.approx(trials["best_value"])
    runs = [p for p in (tmp_path / "sweep").iterdir() if (p / "run.json").exists()]
    assert len(runs) == 2  # two trials, each a real run with its record
    file = results / "seg_lr_search" / "best.yaml"
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", [f"model.module.lr=${{tuned:{file},unit,model.module.lr}}"])
    assert cfg.model.module.lr == lr


def test_a_rate_not_searched_yet_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no searched model.module.lr for 'raw'.*run the search"):
        tuned(str(tmp_path / "best.yaml"), "raw", "model.module.lr")


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
    assert OmegaConf.select(cfg, "hydra.sweeper.direction") == "maximize"
