"""Every metric paired, side by side: what each comparison of a study shows on each metric its
family names (``ReportSections.paired``), on the verdict window and on the last evaluation.

The comparisons are each pairing minus the study's reference (as the front table pairs them),
then the study's ``contrasts``: ``{a: <cell>, b: <cell>, at: <step>}``, ``a`` minus ``b`` seed by
seed, both read at step ``at`` where given (``harness.report.windows``). A cell is named the way
its label names it: the pairing, and the settings in which it differs from most cells of its
family (``{scaling: raw, head: identity, steps: 12000}`` is the label "raw + identity,
steps=12000"); a setting it does not name takes the value most cells share. A contrast that
names no cell, or several, is said in one line instead of a row.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.report.cells import (MISSING, cell_fields, setting_text, settings_of,
                                  shown_settings, with_settings)
from harness.report.paired import Paired, paired_difference, reference_runs, references
from harness.report.windows import per_seed, study_window, window_words


@dataclass(frozen=True)
class Comparison:
    family: str
    label: str  # "raw + identity, steps=12000 minus symmetric + tanh"
    a: list[dict]
    b: list[dict]
    at: int | None = None  # both read at this step; None: at their ends


def _label(cell: tuple, shown: dict) -> str:
    row = cell_fields(cell)
    return with_settings(f"{row['scaling']} + {row['head']}", row, shown)


def select(cells: dict[tuple, list[dict]], family: str, selector: dict,
           shown: dict) -> tuple[tuple | None, str]:
    """The one cell of ``family`` that ``selector`` names, else (None, why)."""
    scaling, head = str(selector.get("scaling")), str(selector.get("head"))
    named = {k: setting_text(v) for k, v in selector.items() if k not in ("scaling", "head")}
    found, same = [], []
    for cell, runs in cells.items():
        if cell[0] != family or cell[2:4] != (scaling, head):
            continue
        same.append(_label(cell, shown))
        values = settings_of(runs[0]) if runs and runs[0].get("config") else {}
        values.update(dict(cell[-1]))
        wants = {k: usual for k, usual in shown.items() if k not in named}
        if all(values.get(k, MISSING) == v for k, v in named.items()) and all(
                usual is not None and values.get(k, MISSING) == usual
                for k, usual in wants.items()):
            found.append(cell)
    if len(found) == 1:
        return found[0], ""
    what = ", ".join(f"{k}={v}" for k, v in {"scaling": scaling, "head": head, **named}.items())
    if found:
        return None, f"{what} names {len(found)} cells of {family}: name the setting between them"
    return None, (f"no cell of {family} is {what}"
                  + (f" (its {scaling} + {head} cells: {'; '.join(same)})" if same else ""))


def comparisons(cells: dict[tuple, list[dict]], rows: list[dict], study: dict
                ) -> tuple[list[Comparison], list[str]]:
    """Each pairing minus its reference, then the study's contrasts; and a line for each
    contrast that names no single cell."""
    out, problems = [], []
    refs = references(study)
    for family in dict.fromkeys(c[0] for c in cells):
        shown = shown_settings([r for r in rows if r["family"] == family])
        if family in refs:
            for cell, runs in cells.items():
                f, model, scaling, head, settings = cell
                if f != family or (scaling, head) == refs[family]:
                    continue
                ref_runs, _ = reference_runs(cells, (f, model, *refs[family]), settings)
                ref_cell = next((k for k, v in cells.items() if v is ref_runs), None)
                if ref_cell is not None:
                    out.append(Comparison(family, f"{_label(cell, shown)} minus "
                                                  f"{_label(ref_cell, shown)}", runs, ref_runs))
        for i, c in enumerate((study.get("contrasts") or {}).get(family) or []):
            (a, why_a), (b, why_b) = (select(cells, family, c[side], shown) for side in "ab")
            if a is None or b is None:
                problems.append(f"contrasts.{family}[{i}]: "
                                + "; ".join(w for w in (why_a, why_b) if w))
                continue
            label = f"{_label(a, shown)} minus {_label(b, shown)}"
            at = c.get("at")
            out.append(Comparison(family, label + (f", at step {at}" if at else ""),
                                  cells[a], cells[b], at))
    return out, problems


def measure(comp: Comparison, metrics: tuple[tuple[str, str], ...], window: int,
            cache: dict) -> dict[str, dict[str, Paired]]:
    """metric -> {"window": Paired, "last": Paired} of ``a`` minus ``b``."""
    out = {}
    for metric, _ in metrics:
        out[metric] = {kind: paired_difference(per_seed(comp.a, metric, w, comp.at, cache),
                                               per_seed(comp.b, metric, w, comp.at, cache))
                       for kind, w in (("window", window), ("last", 1))}
    return out


def family_metrics(family: str, records: list[dict]) -> tuple[tuple[str, str], ...]:
    """The metrics the family pairs (its ``ReportSections.paired``; its primary alone where it
    names none) that its ok records have."""
    from harness.report.tables import declared

    ok = [r for r in records if r.get("family") == family and r.get("status") == "ok"]
    have = {k for r in ok for k in (r.get("metrics") or {})}
    named = declared(family).paired or tuple(
        (str(r["primary_metric"]), str(r.get("primary_direction") or "min"))
        for r in ok[:1] if r.get("primary_metric"))
    return tuple((m, d) for m, d in named if m in have)


def paired_rows(records: list[dict], cells: dict, rows: list[dict], study: dict
                ) -> tuple[list[dict], list[str]]:
    """One row per comparison, metric and window (``window`` and ``last``): the CSV's
    ``paired.csv``, and what the section draws its tables from; and the contrasts' problems."""
    comps, problems = comparisons(cells, rows, study)
    cache: dict = {}
    out = []
    for comp in comps:
        window = study_window(study, comp.family)
        metrics = family_metrics(comp.family, records)
        for metric, result in measure(comp, metrics, window, cache).items():
            direction = dict(metrics)[metric]
            for kind, p in result.items():
                if kind == "last" and window == 1:
                    continue
                out.append({"family": comp.family, "comparison": comp.label, "metric": metric,
                            "direction": direction, "window": kind,
                            "evaluations": window if kind == "window" else 1,
                            "at": comp.at or "", "n": p.n, "median": p.median, "low": p.low,
                            "high": p.high, "coverage": p.coverage, "separable": p.separable,
                            "lower": p.lower, "higher": p.higher})
    return out, problems


def _cell(r: dict, n: int) -> str:
    if not r["n"]:
        return "–"
    interval = f" [{r['low']:.3g}, {r['high']:.3g}]" if r["n"] > 1 else ""
    text = f"{r['median']:+.3g}{interval}" + (f" n={r['n']}" if r["n"] != n else "")
    return f"**{text}**" if r["separable"] else text


def section(paired: list[dict], problems: list[str], family: str, study: dict) -> str:
    """The markdown of one family's every-metric tables (window, then last evaluation), the
    comparisons whose verdict differs between the two, and the contrasts not drawn."""
    rows = [r for r in paired if r["family"] == family]
    if not rows:
        return "".join(f"Not compared: {p}.\n" for p in problems
                       if p.startswith(f"contrasts.{family}["))
    window = study_window(study, family)
    metrics = list(dict.fromkeys((r["metric"], r["direction"]) for r in rows))
    comps = list(dict.fromkeys(r["comparison"] for r in rows))
    by = {(r["comparison"], r["metric"], r["window"]): r for r in rows}
    lowers = {"min": "lower is better", "max": "higher is better"}
    parts = []
    kinds = ("window", "last") if window > 1 else ("window",)
    for kind in kinds:
        words = window_words(window if kind == "window" else 1)
        parts.append(f"**{family}, on {words} of each seed** (a minus b: median of the per-seed "
                     f"differences [sign-test interval]; **bold**: the interval excludes 0 at "
                     f"95% or more; coverage by seeds: 3 give 75%, 5 give 93.8%, 6 give 96.9%)"
                     "\n")
        header = ["a minus b", "seeds", *(f"{m} ({lowers[d]})" for m, d in metrics)]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for comp in comps:
            first = by.get((comp, metrics[0][0], kind))
            n = first["n"] if first else 0
            cov = f" ({first['coverage']:.1%})" if first and n > 1 else ""
            lines.append("| " + " | ".join([comp, f"{n}{cov}", *(
                _cell(by[(comp, m, kind)], n) if (comp, m, kind) in by else "–"
                for m, _ in metrics)]) + " |")
        parts.append("\n".join(lines) + "\n")
    if window > 1:
        split = [f"{c} on {m}" for c in comps for m, _ in metrics
                 if (c, m, "window") in by and (c, m, "last") in by
                 and by[(c, m, "window")]["separable"] != by[(c, m, "last")]["separable"]]
        parts.append("Separable on one of the two readings and not on the other: "
                     + ("; ".join(split) if split else "none") + ".\n")
    parts += [f"Not compared: {p}.\n" for p in problems if p.startswith(f"contrasts.{family}[")]
    return "\n".join(parts)



COLUMNS = ("family", "comparison", "metric", "direction", "window", "evaluations", "at", "n",
           "median", "low", "high", "coverage", "separable", "lower", "higher")


def worth_a_section(paired: list[dict], family: str, window: int, study: dict) -> bool:
    """Whether the family's every-metric section says more than its front table: more than the
    primary paired, a window of more than one evaluation, or contrasts of the study's own."""
    metrics = {r["metric"] for r in paired if r["family"] == family}
    return len(metrics) > 1 or window > 1 or bool((study.get("contrasts") or {}).get(family))


def write_paired_csv(paired: list[dict], path) -> None:
    """``paired.csv``: every comparison, metric and reading, a row each (none: no file)."""
    import csv

    if not paired:
        return
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows({k: ("" if isinstance(v, float) and v != v else v) for k, v in r.items()}
                    for r in paired)
