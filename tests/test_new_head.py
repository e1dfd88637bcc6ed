"""A new head is one entry in harness/core/pixels.py plus one config file: the full grid study, a
run, the record's range check and the report pick it up with no other edit."""
import csv
import shutil

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser

from harness.core import pixels
from harness.report import cli as report
from harness.run.runs import run
from helpers import CONF, check_head, make_cfg
from hydra_plugins.harness_sweeper.harness_sweeper import grid

# Half a sigmoid_fit: reaches only the lower half of any data interval, a range mismatch.
HALF = pixels.Head("half_fit", lambda z, lo, hi: lo + torch.sigmoid(z) * (hi - lo) / 2,
                   lambda lo, hi: (lo, lo + (hi - lo) / 2))


@pytest.fixture
def conf_with_head(tmp_path, monkeypatch):
    """The repository's config tree plus ``conf/head/half_fit.yaml``; HEADS plus its entry."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)  # the experiment/ link is copied as the folder it points to
    (conf / "head" / "half_fit.yaml").write_text("# lower half of [lo, hi]\nname: half_fit\n")
    monkeypatch.setitem(pixels.HEADS, "half_fit", HALF)
    return str(conf)


def test_the_full_grid_study_sweeps_the_new_head(conf_with_head):
    with initialize_config_dir(config_dir=conf_with_head, version_base="1.3"):
        params = compose("train", ["experiment=full_grid"], return_hydra_config=True).hydra.sweeper.params
        parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
        jobs = grid(parser.parse_overrides([f"{k}={v}" for k, v in params.items()]))
    heads = {o.split("=")[1] for job in jobs for o in job if o.startswith("head=")}
    assert heads == set(pixels.HEADS) and "half_fit" in heads


@pytest.mark.slow
def test_the_new_head_checks_runs_records_and_reports(conf_with_head, tmp_path):
    for name in pixels.SCALINGS:
        check_head(pixels.get_head("half_fit"), pixels.make_scaling(name, 3))
    sweep = tmp_path / "sweep"
    recs = [run(make_cfg(tmp_path, f"head={h}", "steps=2", "logger=none", "study=new_head",
                         conf=conf_with_head), sweep / h) for h in ("half_fit", "tanh_fit")]
    assert [(r["head"], r["status"], r["range_mismatch"]) for r in recs] == [
        ("half_fit", "ok", True), ("tanh_fit", "ok", False)]
    out = report.write_report(sweep, tmp_path / "results")
    with (out / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["head"], r["range_mismatch"]) for r in rows] == [("tanh_fit", "False"),
                                                                  ("half_fit", "True")]
