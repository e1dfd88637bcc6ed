"""A report cell holds runs that differ only in seed: any other config key that differs within a
combination becomes a setting column and splits the cell, never an average over two settings."""

import csv
import json

import pytest
from PIL import Image

from harness.core import record
from harness.report import summary
from harness.report import cli as report
from harness.report import cells as stats
from harness.report import tables


def _record(seed, swd, *, head="identity", threads=2, **config):
    """A gan record whose resolved config is ``config`` plus what every run has; paths, the
    question and the checkpoint interval differ per run, as they may without changing a number."""
    base = {"study": "toy", "seed": seed, "steps": 300, "threads": 0, "question": f"q{seed}",
            "checkpoint_every": 10 + seed, "paths": {"log_dir": f"/logs/{seed}"},
            "trainer": {"enable_progress_bar": bool(seed), "max_epochs": 1},
            "model": {"name": "gan_article", "module": {"lr": 0.0002}}, "data": {"root": "d"},
            "scaling": {"name": "raw"}, "head": {"name": head}}
    return {"status": "ok", "study": "toy", "family": "gan", "model": "gan_article",
            "scaling": "raw", "head": head, "seed": seed, "threads": threads,
            "primary_metric": "swd", "primary_direction": "min", "metrics": {"swd": swd},
            "wall_time_s": 1.0, "config": _merge(base, config)}


def _merge(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` given as dotted keys, e.g. ``{"model.module.lr": 0.001}``."""
    out = json.loads(json.dumps(base))
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return out


STEPS = [_record(0, 1.0, steps=300), _record(0, 5.0, steps=301), _record(1, 3.0, steps=300)]


def test_a_key_interpolating_another_is_not_a_column_of_its_own():
    """``model.module.generator.width: ${model.width}`` resolves to the same value in every
    record: one column, ``model.width``, and the cells are split by it alone."""
    def rec(seed, width, swd):
        return _record(seed, swd, model={"width": width, "module": {
            "generator": {"width": width}, "discriminator": {"width": width}}})
    records = [rec(0, 0.125, 1.0), rec(1, 0.125, 2.0), rec(0, 0.5, 3.0)]
    assert stats.varying_settings(records) == {"model.width": ["0.125", "0.5"]}
    assert [r["n"] for r in summary.summarise(records)] == [2, 1]
    # a key that differs from it in one record is its own column again
    records[2]["config"]["model"]["module"]["generator"]["width"] = 0.25
    assert set(stats.varying_settings(records)) == {"model.width", "model.module.generator.width"}


def test_steps_300_and_301_are_two_rows_not_two_seeds():
    rows = summary.summarise(STEPS)
    # steps=300: seeds 0 and 1, swd 1 and 3 -> median 2, quartiles 1.5 and 2.5
    assert [(r["steps"], r["n"], r["swd_median"], r["swd_q25"], r["swd_q75"]) for r in rows] == [
        ("300", 2, 2.0, 1.5, 2.5), ("301", 1, 5.0, 5.0, 5.0)]
    assert [stats.setting_columns(r) for r in rows] == [["steps"], ["steps"]]
    assert [r["rank"] for r in rows] == [1, 2]  # ranked across rows, by median
    assert not any("group" in r for r in rows)


@pytest.mark.parametrize("key, values", [("model.module.lr", (0.0002, 0.001)),
                                         ("data.root", ("data/a", "data/b")),
                                         # another memory format is another float order
                                         ("channels_last", (False, True))])
def test_any_config_key_that_differs_splits_the_cell(key, values):
    records = [_record(0, 1.0, **{key: values[0]}), _record(0, 2.0, **{key: values[1]}),
               _record(1, 3.0, **{key: values[0]})]
    rows = summary.summarise(records)
    shown = [v if isinstance(v, str) else json.dumps(v) for v in values]  # command-line spelling
    assert [(r[key], r["n"]) for r in rows] == [(shown[0], 2), (shown[1], 1)]


def test_threads_used_count_even_where_the_config_says_0():
    rows = summary.summarise([_record(0, 1.0, threads=1), _record(1, 2.0, threads=2)])
    assert [(r["threads"], r["n"]) for r in rows] == [("1", 1), ("2", 1)]


def test_runs_on_cpus_of_other_kernels_are_never_pooled():
    """The CPU's instruction set changes a GAN's numbers (harness.core.machine): two seeds on
    AVX-512 kernels and one on AVX2 are two rows, and the README names both processors."""
    machines = [{"cpu": "AMD EPYC", "cpu_capability": cap, "onednn_max_isa": "native",
                 "mkl_cbwr": "native", "gpu": None} for cap in ("AVX512", "AVX2", "AVX512")]
    records = [{**_record(seed, float(seed)), "machine": m} for seed, m in enumerate(machines)]
    rows = summary.summarise(records)
    assert [(r["machine.cpu_capability"], r["n"]) for r in rows] == [("AVX2", 1), ("AVX512", 2)]
    from harness.report.readme import processors
    assert processors(records) == ("AMD EPYC, CPU kernels AVX512 (2 runs); "
                                   "AMD EPYC, CPU kernels AVX2 (1 run)")
    assert processors([_record(0, 1.0)]) == "not recorded (1 run)"
    capped = {**machines[1], "onednn_max_isa": "AVX2", "mkl_cbwr": "AVX2", "gpu": "NVIDIA H100"}
    assert processors([{**records[0], "machine": capped}]) == (
        "AMD EPYC, CPU kernels AVX2, oneDNN AVX2, MKL AVX2, GPU NVIDIA H100 (1 run)")
    # one capability everywhere: no column, as before
    assert "machine.cpu_capability" not in summary.summarise(records[::2])[0]


def test_a_run_still_going_joins_the_cell_of_its_sweeps_machine():
    """A running run has no record to name its processor yet: it takes the one its sweep's
    ended runs name (none, for records that name none; this machine's, where none ended), so
    an interim report does not split it off as a processor of its own."""
    from harness.report.cells import this_machine

    going = {**_record(1, 2.0), "status": "running"}
    for machine in ({"cpu": "X", "cpu_capability": "AVX2"}, None):
        done = {**_record(0, 1.0), **({"machine": machine} if machine else {})}
        rows = summary.summarise([done, going])
        assert len(rows) == 1 and rows[0]["n"] == 2 and rows[0]["running"] == 1, machine
    rows = summary.summarise([going])
    assert rows[0]["n"] == 1 and this_machine()["cpu_capability"]


def test_a_missing_key_is_a_value_of_its_own():
    records = [_record(0, 1.0, **{"model.module.net.norm": "batch"}), _record(1, 2.0)]
    rows = summary.summarise(records)
    assert [(r["model.module.net.norm"], r["n"]) for r in rows] == [("batch", 1), ("–", 1)]


def test_same_settings_give_no_column_and_the_table_of_today():
    """Seeds, paths, the question, the progress bar and the checkpoint interval differ per run
    (``_record``): none of them is a setting, so one row of three seeds."""
    rows = summary.summarise([_record(s, float(s)) for s in range(3)])
    assert [(r["n"], stats.setting_columns(r)) for r in rows] == [(3, [])]
    table = tables.markdown_table(rows).splitlines()
    i = table.index("| rank | pairing | swd, median [IQR] (lower is better) | runs | head's range |")
    assert table[i + 2] == "| 1 | raw + identity | 1 [0.5, 1.5] | 3 ok | covers the data |"  # swd 0, 1, 2


def test_not_result_is_read_not_copied(monkeypatch):
    monkeypatch.setattr(record, "NOT_RESULT", (*record.NOT_RESULT, "steps"))
    assert [r["n"] for r in summary.summarise(STEPS)] == [3]


def test_a_setting_shows_only_in_the_family_where_it_tells_rows_apart():
    seg = [{**_record(s, 0.5, steps=100), "family": "seg", "model": "seg"} for s in (0, 1)]
    rows = summary.summarise([*STEPS, *seg])
    assert [(r["family"], r["steps"], r["n"]) for r in rows] == [
        ("gan", "300", 2), ("gan", "301", 1), ("seg", "100", 2)]
    gan, seg_table = tables.markdown_table(rows).split("### seg")
    assert "| 1 | raw + identity, steps=300 | 2 [1.5, 2.5] | 2 ok | covers the data |" in gan
    assert "| 2 | raw + identity, steps=301 | 5 | 1 ok | covers the data |" in gan
    assert "| 1 | raw + identity | 0.5 | 2 ok | covers the data |" in seg_table  # steps=100 in every row
    assert "steps=" not in seg_table


def _write_sweep(root, records):
    for i, r in enumerate(records):
        run_dir = root / f"run{i}"
        run_dir.mkdir(parents=True)
        (run_dir / "run.json").write_text(json.dumps(r))
        Image.new("RGB", (64, 64), (0, 0, 200)).save(run_dir / "samples_decoded.png")


def test_report_files_show_the_setting_column(tmp_path):
    _write_sweep(tmp_path / "sweep", STEPS)
    out = report.write_report(tmp_path / "sweep", tmp_path / "out")
    summary = list(csv.DictReader((out / "summary.csv").open()))
    assert list(summary[0])[:6] == ["family", "model", "scaling", "head", "steps", "n"]
    assert [(r["steps"], r["n"]) for r in summary] == [("300", "2"), ("301", "1")]
    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert sorted((r["seed"], r["steps"]) for r in runs) == [("0", "300"), ("0", "301"),
                                                              ("1", "300")]
    assert [(r["swd_median"], r["rank"]) for r in summary] == [("2.0", "1"), ("5.0", "2")]
    md = (out / "summary.md").read_text()
    assert "| 2 | raw + identity, steps=301 | 5 | 1 ok | covers the data |" in md
    assert "vary between runs of a family (one row per value, never averaged): `steps`: 300, 301" \
        in (out / "README.md").read_text()
    assert (out / "montage.png").is_file()  # its layout is tests/test_figures.py's


def test_labels_name_the_setting():
    """The front page names a pairing with the settings that tell its rows apart, in the table
    and in the sentence (the figures' labels are tests/test_figures.py's)."""
    rows = summary.summarise(STEPS)
    assert stats.shown_settings(rows) == {"steps": None}  # a tie: no value is the usual one
    assert [tables.pairing(r, rows) for r in rows] == ["raw + identity, steps=300",
                                                      "raw + identity, steps=301"]
    assert tables.sentence(rows) == ("First by median raw + identity, steps=300 (median swd 2); "
                                     "last by median raw + identity, steps=301 (median swd 5).")
    from dataclasses import replace

    from harness.report.rows import Cell

    tanh = replace(rows[0], cell=Cell({**rows[0].cell.combo, "head": "tanh"}, rows[0].settings))
    three = [*rows, tanh]  # 300 is now what most rows share
    shown = stats.shown_settings(three)
    assert shown == {"steps": "300"}
    assert [stats.with_settings(r["head"], r, shown) for r in three] == [
        "identity", "identity, steps=301", "tanh"]
    nested = {"model.module.discriminator.norm": None, "model.module.last_lr_scale": None}
    assert stats.with_settings("raw + identity", {**dict.fromkeys(nested, "x")}, nested) == (
        "raw + identity, norm=x, last_lr_scale=x")
    # a second model in the family puts the model in front
    other = [{**r, "model": "dcgan"} for r in STEPS[:1]]
    rows = summary.summarise([*STEPS, *other])
    assert [tables.pairing(r, rows) for r in rows] == [  # 300 steps: what most rows share
        "dcgan: raw + identity", "gan_article: raw + identity", "gan_article: raw + identity, "
        "steps=301"]


def test_a_rows_column_groups_are_its_fields_not_its_key_order():
    """Which columns are settings and which are status counts is typed, so a column added
    later (a rank, a paired difference) can never be read as one of them."""
    from harness.report.rows import Row

    (row, _) = summary.summarise(STEPS)
    assert isinstance(row, Row) and list(row.settings) == ["steps"]
    assert stats.status_columns(row) == ["ok", "diverged", "failed", "interrupted", "skipped"]
    row["zz_added"] = 1  # after every column, in the report's order
    assert list(row)[-1] == "zz_added" and stats.setting_columns(row) == ["steps"]
    assert list(row)[:6] == ["family", "model", "scaling", "head", "steps", "n"]
    with pytest.raises(KeyError):
        row["head"] = "tanh"  # the cell's key is not a value to overwrite


def test_the_record_names_the_processor_and_the_caps_in_force(monkeypatch):
    import torch

    from harness.core.machine import machine

    monkeypatch.delenv("MKL_CBWR", raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # read by oneDNN at its first use
    m = machine(gpu=False)
    assert m["cpu"] and m["cpu"] != "unknown"
    assert m["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert (m["onednn_max_isa"], m["mkl_cbwr"], m["gpu"]) == ("AVX2", "native", None)
