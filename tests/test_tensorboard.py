"""What TensorBoard shows: a log folder per config, one final evaluation, a family's cards
together with its own primary card, and an HParams row per run that opens on the study's axes
and each family's primary metric."""
import pytest

from harness.models import families
from harness.run.runs import run
from helpers import (SEG_FAST, hparams_opens_on, hparams_rows, hparams_served, make_cfg,
                     tb_events, tb_scalars, tb_tags)


def _folders(log_dir):
    return sorted({str(e.parent.relative_to(log_dir)) for e in tb_events(log_dir)})


@pytest.mark.slow
def test_two_configs_never_share_a_log_folder_and_a_rerun_keeps_its_own(tmp_path):
    logs = tmp_path / "logs"
    first = run(make_cfg(tmp_path, "steps=4"), tmp_path / "run")
    assert len(_folders(logs)) == 1
    again = run(make_cfg(tmp_path, "steps=4"), tmp_path / "run")  # reused: nothing new
    assert again["started"] == first["started"] and len(_folders(logs)) == 1
    other = run(make_cfg(tmp_path, "steps=6"), tmp_path / "run")  # same seed, other steps
    folders = _folders(logs)
    assert len(folders) == 2 and first["config_key"] != other["config_key"]
    assert folders == sorted(f"adhoc/{r['log_version']}" for r in (first, other))
    steps = {f: max(s for s, _ in tb_scalars(logs / f)["gan/train/d_loss"]) for f in folders}
    assert sorted(steps.values()) == [4, 6]  # each folder holds its own run's curves only


@pytest.mark.slow
def test_the_final_evaluation_is_logged_once_at_the_last_step(tmp_path):
    rec = run(make_cfg(tmp_path, "steps=6", "eval_every=3"), tmp_path / "run")
    assert rec["status"] == "ok", rec["message"]
    scalars = tb_scalars(tmp_path / "logs")
    assert [s for s, _ in scalars["gan/eval/swd"]] == [0, 3, 6]  # 0: the untrained generator
    assert scalars["gan/eval/swd"][0][1] == pytest.approx(rec["metrics"]["swd_init"])
    assert scalars["gan/eval/swd"][-1][1] == pytest.approx(rec["metrics"]["swd"])
    assert len(tb_tags(tmp_path / "logs")["images"]) == 2  # decoded and article, no copies


@pytest.mark.slow
def test_a_run_carries_only_its_own_familys_tags_and_no_epoch_counter(tmp_path):
    gan = run(make_cfg(tmp_path, "steps=4", "eval_every=2", "study=mixed"), tmp_path / "gan")
    seg = run(make_cfg(tmp_path, *SEG_FAST, "study=mixed", fast=False), tmp_path / "seg")
    assert gan["status"] == seg["status"] == "ok"
    for rec in (gan, seg):
        tags = tb_tags(tmp_path / "logs" / "mixed" / rec["log_version"])
        family = rec["family"]
        assert "epoch" not in tags["scalars"]
        assert all(t.startswith(f"{family}/") for t in tags["scalars"])
        assert f"{family}/primary/{rec['primary_metric']}" in tags["scalars"]  # its own card
        assert all(t.startswith(f"{family}/") for k in ("images", "histograms") for t in tags[k])


@pytest.mark.slow
def test_every_hparams_row_shows_its_primary_metric_and_status(tmp_path):
    recs = [run(make_cfg(tmp_path, "steps=2", "study=mixed"), tmp_path / "gan"),
            run(make_cfg(tmp_path, *SEG_FAST, "study=mixed", fast=False), tmp_path / "seg"),
            run(make_cfg(tmp_path, "study=mixed", "data=folder", f"data.root={tmp_path}/none"),
                tmp_path / "bad")]
    assert [r["status"] for r in recs] == ["ok", "ok", "failed"]
    logs = tmp_path / "logs" / "mixed"
    rows = hparams_rows(logs)
    assert sorted(rows) == sorted(r["log_version"] for r in recs)
    columns = {tuple(row["metrics"]) for row in rows.values()}
    assert len(columns) == 1  # the same columns whichever run TensorBoard reads first
    (columns,) = columns
    assert columns[:3] == ("gan/primary/swd", "seg/primary/miou", "style/primary/loss")
    assert {"gan/final/swd_init", "seg/final/pixel_acc", "style/final/ssim"} <= set(columns)
    for rec in recs:
        row = rows[rec["log_version"]]["hparams"]
        assert row["status"] == rec["status"] and row["family"] == rec["family"]
        if rec["status"] == "ok":
            tag = f"{rec['family']}/primary/{rec['primary_metric']}"
            last = tb_scalars(logs / rec["log_version"])[tag][-1][1]
            assert last == pytest.approx(rec["metrics"][rec["primary_metric"]], rel=1e-6)


@pytest.mark.slow
def test_a_fresh_start_replaces_its_own_earlier_curves_and_no_one_elses(tmp_path):
    """An attempt that failed before its first checkpoint starts again from step 0 in the same
    run directory: its earlier events go. The same config in another directory has its own."""
    stop = ["+callbacks.stop._target_=helpers.StopAt", "+callbacks.stop.step=3"]
    failed = run(make_cfg(tmp_path, "steps=4", "eval_every=2", *stop), tmp_path / "run")
    assert failed["status"] == "failed"
    again = run(make_cfg(tmp_path, "steps=4", "eval_every=2"), tmp_path / "run")
    other = run(make_cfg(tmp_path, "steps=4", "eval_every=2"), tmp_path / "elsewhere")
    assert failed["log_version"] == again["log_version"] != other["log_version"]
    for rec in (again, other):
        scalars = tb_scalars(tmp_path / "logs" / "adhoc" / rec["log_version"])
        assert [s for s, _ in scalars["gan/eval/swd"]] == [0, 2, 4]
        assert [s for s, _ in scalars["gan/primary/swd"]] == [4]


def _record(family: str | None, status: str, metrics: dict, n: int) -> dict:
    """A settled record as ``runs`` writes it (its family's primary from the family class)."""
    metric, direction = families()[family].primary if family else (None, None)
    return {"study": "mixed", "family": family, "model": family, "scaling": "raw",
            "head": "identity", "seed": n, "steps": 4, "status": status, "range_mismatch": False,
            "metrics": metrics, "primary_metric": metric, "primary_direction": direction,
            "log_version": f"{family}/raw/identity/seed{n}-{n:08x}-beef"}


def test_the_hparams_table_opens_on_the_study_axes_and_each_familys_primary(tmp_path):
    """As TensorBoard's own HParams backend serves a sweep of every family with a skipped and a
    failed run: the table ticks head, scaling, seed, status and family, and the three primaries
    (each its own tag, headed with its direction); a row holds its own family's values only."""
    from pytorch_lightning.loggers import TensorBoardLogger
    from tensorboard.plugins.hparams import api_pb2

    from harness.run.hparams import log_record

    recs = [_record("gan", "ok", {"swd": 812.5, "swd_init": 1021.0}, 0),
            _record("seg", "ok", {"miou": 0.625, "pixel_acc": 0.75}, 1),
            _record("style", "ok", {"loss": 2.25, "ssim": 0.5}, 2),
            _record("seg", "skipped", {}, 3), _record(None, "failed", {}, 4)]
    for rec in recs:
        log_record(TensorBoardLogger(tmp_path, name="mixed", version=rec["log_version"]), rec)
    experiment, groups = hparams_served(tmp_path)
    hparams, metrics = hparams_opens_on(experiment)
    assert hparams == ["head", "scaling", "seed", "status", "family"]
    assert metrics[:3] == ["gan/primary/swd", "seg/primary/miou", "style/primary/loss"]
    headers = {m.name.tag: m.display_name for m in experiment.metric_infos}
    assert headers["gan/primary/swd"] == "gan swd (lower is better)"
    assert headers["seg/primary/miou"] == "seg miou (higher is better)"
    assert "primary_metric" not in headers and "gan/final/swd" not in headers  # one column each

    # every status has its row, its Trial ID the folder's <config key>-<dir>: short, unique
    rows = [{g.name: g for g in groups}[f"{n:08x}-beef"] for n in range(5)]
    assert [row.hparams["status"].string_value for row in rows] == [
        "ok", "ok", "ok", "skipped", "failed"]
    values = [{m.name.tag: m.value for m in row.metric_values} for row in rows]
    assert values == [{"gan/primary/swd": 812.5, "gan/final/swd_init": 1021.0},
                      {"seg/primary/miou": 0.625, "seg/final/pixel_acc": 0.75},
                      {"style/primary/loss": 2.25, "style/final/ssim": 0.5}, {}, {}]
    assert [row.sessions[0].status for row in rows] == [
        *[api_pb2.STATUS_SUCCESS] * 3, api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_FAILURE]
    assert tb_tags(tmp_path)["scalars"] == {t for v in values for t in v}  # no shared card
