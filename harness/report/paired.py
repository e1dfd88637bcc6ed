"""Paired statistics: a pairing against the study's reference, seed by seed.

Runs of one seed share the initial network, the batches and the noise, so the comparison that
uses what the seeds share is the per-seed difference ``d_s = x_s - ref_s``. Its summary here is
the median difference with the exact sign-test interval for the median: the order statistics
``[d_(k), d_(n+1-k)]``, whose coverage is ``1 - 2 P(B <= k - 1)`` for ``B ~ Binomial(n, 1/2)``
whatever the distribution of the differences (Conover, *Practical Nonparametric Statistics*,
section 3.2). It needs no normality and no more than the seeds: with 3 seeds the widest
interval, ``[min, max]``, covers 75%, with 5 seeds 93.8%, with 6 seeds 96.9%. A difference is
called separable only where an interval of at least the asked coverage excludes 0; otherwise
the report says "not separable with n seeds", never "equivalent".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from harness.core.signtest import median_interval
from harness.report.cells import with_settings
from harness.report.stats import rerank
from harness.report.windows import per_seed


@dataclass(frozen=True)
class Paired:
    n: int  # seeds with a finite value in both
    median: float  # median of the per-seed differences
    low: float
    high: float  # the sign-test interval of the median difference
    coverage: float  # its exact coverage
    separable: bool  # an interval of at least the asked coverage excludes 0
    lower: int = 0  # seeds whose difference is below 0
    higher: int = 0  # and above it

    def count(self) -> str:
        """E.g. "higher on 5 of 5 seeds": what a screen too small for a verdict can say."""
        up = self.higher >= self.lower
        return f"{'higher' if up else 'lower'} on {self.higher if up else self.lower} of {self.n} seeds"

    def words(self, direction: str = "min", level: float = 0.95) -> str:
        """E.g. "worse by 540 (higher on 5 of 5 seeds; 93.8% interval 480..700): not separable
        with 5 seeds at 95%"."""
        if self.n == 0:
            return "no seed in common with the reference"
        better = (self.median < 0) == (direction == "min")
        side = "better" if better else "worse"
        text = (f"{side} by {abs(self.median):.3g} ({self.count()}; {self.coverage:.1%} "
                f"interval {self.low:.3g}..{self.high:.3g})")
        if self.separable:
            return text
        return f"{text}: not separable with {seeds(self.n)} at {level:.0%}"

    def short(self) -> str:
        """A table cell: ``+540 [480, 700] 93.8%, n=5: separable``; the sign is the metric's
        (x - reference)."""
        if self.n == 0:
            return "no seed in common"
        verdict = "separable" if self.separable else "not separable"
        interval = (f" [{self.low:.3g}, {self.high:.3g}] {self.coverage:.1%}" if self.n > 1
                    else "")
        return f"{self.median:+.3g}{interval}, n={self.n}: {verdict}"


def seeds(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def paired_difference(values: dict[int, float], reference: dict[int, float],
                      level: float = 0.95) -> Paired:
    """Per-seed ``values - reference`` over the seeds both have (finite), summarised."""
    seeds = sorted(s for s in values if s in reference
                   and math.isfinite(values[s]) and math.isfinite(reference[s]))
    d = [values[s] - reference[s] for s in seeds]
    n, median, low, high, coverage = median_interval(d, level)
    if n == 0:
        return Paired(0, math.nan, math.nan, math.nan, math.nan, False)
    return Paired(n, median, low, high, coverage, coverage >= level and (low > 0 or high < 0),
                  lower=sum(x < 0 for x in d), higher=sum(x > 0 for x in d))


def references(study: dict) -> dict[str, tuple[str, str]]:
    """family -> (scaling, head) of the study's reference pairing (``study_settings``)."""
    return {family: (str(p["scaling"]), str(p["head"]))
            for family, p in (study.get("reference") or {}).items()}


STRICT = ("data.", "threads", "channels_last")  # never relaxed: other data, other float order


def reference_runs(cells: dict[tuple, list[dict]], pairing: tuple,
                   settings: tuple) -> tuple[list[dict] | None, dict[str, str]]:
    """The runs of ``pairing`` (family, model, scaling, head) to compare a cell of ``settings``
    with, and the settings in which they differ from it. A mechanism arm (another
    discriminator, a longer budget) has no reference run of its own settings: it is compared
    with the reference cell that agrees with it on every setting the reference's own cells
    differ in, and on its data, threads and memory format (``STRICT``). (None, {}) when no
    cell fits, or several do and none has exactly its settings."""
    mine = dict(settings)
    candidates = [dict(c[-1]) for c in cells if c[:4] == pairing]
    differ = {k for k in set().union(*candidates, mine) if k.startswith(STRICT)
              or len({c.get(k) for c in candidates}) > 1}
    fit = [c for c in candidates if all(c.get(k) == mine.get(k) for k in differ)]
    if len(fit) != 1:
        return cells.get((*pairing, settings)), {}
    ref = fit[0]
    return cells[(*pairing, tuple(ref.items()))], {k: v for k, v in ref.items()
                                                   if v != mine.get(k)}


def add_paired(rows: list[dict], cells: dict[tuple, list[dict]], refs: dict[str, tuple[str, str]],
               level: float = 0.95, windows: dict[str, int] | None = None,
               cache: dict | None = None) -> None:
    """Each summary row (``rows`` in the order of ``cells``) gets its primary metric's paired
    difference to the reference pairing of the same family and model, at its settings or, for a
    mechanism arm, the settings ``reference_runs`` names (said in the words), on the family's
    verdict window (``windows``: family -> evaluations averaged, 1 where absent):
    ``paired_n``, ``paired_median``, ``paired_low``, ``paired_high``, ``paired_coverage``,
    ``paired_separable`` and, in words, ``vs_reference``; on a window of more than one
    evaluation also the last evaluation's, ``paired_last_short``, and ``paired_disagree`` where
    one is separable and the other not."""
    for row, (cell, runs) in zip(rows, cells.items()):
        family, model, scaling, head, settings = cell
        if family not in refs:
            continue
        row["reference"] = " + ".join(refs[family])
        if (scaling, head) == refs[family]:
            row["vs_reference"] = "reference"
            continue
        ref_runs, apart = reference_runs(cells, (family, model, *refs[family]), settings)
        if ref_runs is None:
            row["vs_reference"] = "no reference run with these settings"
            continue
        metric, window = row["primary"], (windows or {}).get(family, 1)
        p = paired_difference(per_seed(runs, metric, window, cache=cache),
                              per_seed(ref_runs, metric, window, cache=cache), level)
        at = ("; reference at " + with_settings("", apart, dict.fromkeys(apart))[2:]
              if apart else "")  # named as the labels name settings
        row.update(paired_n=p.n, paired_median=p.median, paired_low=p.low, paired_high=p.high,
                   paired_coverage=p.coverage, paired_separable=p.separable,
                   paired_short=p.short() + at, vs_reference=p.words(row["direction"], level) + at)
        if window > 1:
            last = paired_difference(per_seed(runs, metric, cache=cache),
                                     per_seed(ref_runs, metric, cache=cache), level)
            row.update(paired_last_short=last.short(),
                       paired_disagree=last.separable != p.separable)


def noise_floors(rows: list[dict], cells: dict[tuple, list[dict]], study: dict,
                 windows: dict[str, int] | None = None, level: float = 0.95) -> dict[str, str]:
    """family -> in words, the paired difference between the two pairings its study names as
    computing the same function (``noise_floor`` in the study file): what seeds, float order
    and a different path to the same numbers alone move the primary metric, read on the same
    window as the verdicts (``windows``), once per condition (a weighting) the floor ran at."""
    named = study.get("noise_floor") or {}
    out: dict[str, str] = {}
    for family, (a, b) in named.items():
        pa, pb = ((str(p["scaling"]), str(p["head"])) for p in (a, b))
        window = (windows or {}).get(family, 1)
        for row, (cell, runs) in zip(rows, cells.items()):
            fam, model, scaling, head, settings = cell
            other = cells.get((fam, model, *pb, settings))
            if fam != family or (scaling, head) != pa or other is None:
                continue
            metric = row["primary"]
            p = paired_difference(per_seed(runs, metric, window), per_seed(other, metric, window),
                                  level)
            interval = (f"; {p.coverage:.1%} interval {p.low:.3g}..{p.high:.3g}" if p.n > 1
                        else ": no interval")
            on = f" on the mean of the last {window} evaluations" if window > 1 else ""
            at = f", at {row['condition']}" if row.get("condition") else ""
            text = (f"{' + '.join(pa)} minus {' + '.join(pb)} (the same function{at}): "
                    + ("no seed in common" if p.n == 0 else
                       f"median paired difference of {metric}{on} {p.median:.3g} "
                       f"({seeds(p.n)}{interval})"))
            out[family] = text if family not in out else f"{out[family]}; {text}"
    return out


def condition_keys(cells: dict[tuple, list[dict]], refs: dict[str, tuple[str, str]]
                   ) -> dict[str, list[str]]:
    """family -> the settings in which the reference pairing's own cells of one model differ (a
    weighting, a precision): conditions the study runs every pairing under, not arms. Primary
    metrics of two conditions need not be comparable (a weighted loss), so a row is ranked
    within its own. A setting that differs only between models (each network's own searched
    learning rate) is part of the model, not a condition."""
    out = {}
    for family, pairing in refs.items():
        models: dict[str, list[dict]] = {}
        for c in cells:
            if c[0] == family and c[2:4] == pairing:
                models.setdefault(c[1], []).append(dict(c[-1]))
        keys = sorted({k for own in models.values() for k in set().union(*own)
                       if len({c.get(k) for c in own}) > 1})
        if keys:
            out[family] = keys
    return out


def rank_by_condition(rows: list[dict], keys: dict[str, list[str]]) -> None:
    """Rank each family's rows within each value of its condition ``keys`` (floor arms stay
    unranked); each row names its condition, ``condition`` (e.g. ``content_weight=1.0``)."""
    for family, names in keys.items():
        groups: dict[tuple, list[dict]] = {}
        for r in rows:
            if r["family"] == family:
                groups.setdefault(tuple(r.get(k) for k in names), []).append(r)
        for values, group in groups.items():
            label = with_settings("", dict(zip(names, values)), dict.fromkeys(names))[2:]
            for r in group:
                r["condition"] = label
            rerank([r for r in group if "floor_arm" not in r],
                   [r for r in group if "floor_arm" in r])


def set_floor_arms_apart(rows: list[dict], study: dict) -> None:
    """A pairing run only to measure the noise floor (the first of ``noise_floor``: the same
    function as the second) is the floor, not a contender: its rows lose their rank (the
    others are ranked again without them) and say what they are, ``floor_arm``."""
    for family, pair in (study.get("noise_floor") or {}).items():
        arm, twin = ((str(p["scaling"]), str(p["head"])) for p in pair)
        frows = [r for r in rows if r["family"] == family]
        marked = [r for r in frows if (r["scaling"], r["head"]) == arm]
        for r in marked:
            r["floor_arm"] = f"the noise floor's arm: the same function as {' + '.join(twin)}"
        if marked:
            rerank([r for r in frows if "floor_arm" not in r], marked)
