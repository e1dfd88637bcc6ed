"""A report's summary rows: the cells' statistics (``harness.report.stats``), then what the study
asks of them, each a function applied in turn: the paired per-seed difference to the reference
pairing (``harness.report.paired``) and the steps to the study's target (``harness.report.quality``).
"""
from __future__ import annotations

from harness.report.cells import by_cell, study_settings
from harness.report.stats import cell_rows
from harness.report.paired import (add_paired, condition_keys, rank_by_condition, references,
                                   set_floor_arms_apart)
from harness.report.quality import add_quality, targets
from harness.report.windows import study_window


def summarise(records: list[dict], primary: dict | None = None,
              study: dict | None = None) -> list[dict]:
    """One row per cell, ranked within its family (``cell_rows``), with its paired difference to
    the study's reference (on the study's verdict window) and its steps to quality. ``primary`` overrides the records' declared
    primary metric per family; ``study`` is passed to ``study_settings`` (default: the newest
    record's ``reference``, ``target``, ``noise_floor``)."""
    cells = by_cell(records)
    rows = cell_rows(records, cells, primary)
    study = study_settings(records, study)
    windows = {f: study_window(study, f) for f in dict.fromkeys(r["family"] for r in rows)}
    add_paired(rows, cells, references(study), windows=windows, cache={})
    add_quality(rows, cells, targets(study))
    set_floor_arms_apart(rows, study)
    rank_by_condition(rows, condition_keys(cells, references(study)))
    return rows
