"""Training in bfloat16 (``trainer.precision=bf16-mixed``, Lightning's own switch): every family
trains and evaluates, and the evaluation runs in float32 whatever the training precision (an
evaluation inside a bf16 step once failed in SWD's numpy sort). The record names the precision,
and a report never puts the two precisions in one cell."""
import csv
import math

import pytest

from harness.report.cells import settings_of
from helpers import SEG_FAST, make_cfg

FAMILIES = {
    "gan": ["steps=2", "eval_every=1"],
    "style": ["model=style", "steps=2", "eval_every=1", "log_every=1", "data.batch_size=2",
              "trainer.enable_progress_bar=false"],
    "seg": [*SEG_FAST, "steps=2", "eval_every=1"],
}


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_trains_in_bf16_and_evaluates_in_float32(tmp_path, family):
    from harness.run.runs import run

    rec = run(make_cfg(tmp_path, *FAMILIES[family], "trainer.precision=bf16-mixed",
                       "logger=none", fast=family == "gan"), tmp_path / "run")
    assert rec["status"] == "ok", rec.get("message")
    assert rec["config"]["trainer"]["precision"] == "bf16-mixed"
    assert settings_of(rec)["trainer.precision"] == "bf16-mixed"  # a cell of its own
    primary = rec["metrics"][rec["primary_metric"]]
    assert isinstance(primary, float) and math.isfinite(primary)
    with (tmp_path / "run" / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows][:2] == [0, 1]  # the evaluation inside a bf16 step
    assert math.isfinite(float(rows[1][rec["primary_metric"]]))
