"""Every numeric top-level and data setting, every network's width and learning rate, the
study's report settings and joblib's ``n_jobs``, checked before any work: one line per bad
value, naming the key, the value and what is accepted.

One table, read by single runs (``harness.run.precheck``) and by the sweeper (every job of a sweep is
checked before the first one starts), instead of checks scattered where the values are used,
where a bad value surfaces as a library's ``num_samples=-64`` or ``ZeroDivisionError``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from harness.core.keys import REFERENCE, parameters, reserved_keys, targets, unknown_keys, \
    unread_keys
from harness.core.findings import answer_problem
from harness.core.record import STUDY_KEYS


@dataclass(frozen=True)
class Rule:
    kind: type  # int or float (an int is a fine float; a bool is neither)
    ok: Callable[[Any], bool]
    accepted: str
    optional: bool = False  # null allowed


def _int(lo: int, hi: int | None = None, note: str = "", optional: bool = False) -> Rule:
    text = f"an integer >= {lo}" if hi is None else f"an integer from {lo} to {hi}"
    return Rule(int, lambda v: v >= lo and (hi is None or v <= hi),
                text + (f" ({note})" if note else "") + (", or null" if optional else ""), optional)


def _fraction(note: str = "") -> Rule:
    return Rule(float, lambda v: 0 <= v <= 1, "a number from 0 to 1" + (f" ({note})" if note else ""))


RULES: dict[str, Rule] = {
    "seed": _int(0),
    "steps": _int(1, note="training batches"),
    "threads": _int(0, note="0 = the machine's cores, shared among parallel jobs"),
    "eval_every": _int(0, note="0 = evaluate before and after training only"),
    "eval_early.every": _int(0, note="steps between early evaluations; 0 = none"),
    "eval_early.until": _int(0, note="the last step of the early evaluations"),
    "log_every": _int(1),
    "checkpoint_every": _int(0, note="0 = no checkpoints"),
    "data.channels": Rule(int, lambda v: v in (1, 3), "1 or 3"),
    "data.batch_size": _int(1),
    "data.image_size": _int(8),
    "data.eval_size": _int(2, note="held-out images the metrics compare against; KID and "
                                   "a spread need two"),
    "data.limit": _int(1, optional=True),
    "data.n_classes": _int(2, note="classes incl. background; required for your own masks"),
    "data.ignore_index": _int(0, 255),
    "data.n_train": _int(1, optional=True),
    "data.n_val": _int(1, optional=True),
    "data.dataset_seed": _int(0),
    "data.mosaic.max_shapes": _int(2),
    "data.mosaic.texture_size": _int(8),
    "data.mosaic.tint": _fraction("0 = grey"),
    "data.mosaic.contrast_jitter": _fraction(),
    "data.mosaic.brightness_jitter": _fraction(),
    "data.crop_size": _int(8),
    "data.photo_size": _int(8, optional=True),
    "data.style_size": _int(8),
    "model.module.last_lr_scale": Rule(float, lambda v: v > 0, "a number > 0 (1 = lr)"),
}

# parameters that must be positive in whichever class of the config takes them, an integer
# where the class says int: a width of 0 built empty layers (the article's network one channel
# each, silently) and a rate of 0 trains nothing, both recorded as ok
POSITIVE = {"width": "the network's width: its channel counts scale with it",
            "lr": "the learning rate"}


# top-level settings with a fixed set of values: key -> (accepted, what they mean)
CHOICES = {"reuse": (("same_code", "any"), "reuse a finished run only if this code made it, or "
                                           "whatever code made it")}


def _problem(key: str, value: Any, rule: Rule) -> str | None:
    if value is None:
        return None if rule.optional else f"{key} is required: give {rule.accepted}"
    typed = (isinstance(value, int) if rule.kind is int else isinstance(value, (int, float)))
    if isinstance(value, bool) or not typed or not rule.ok(value):
        return f"{key}={value!r} is not accepted: give {rule.accepted}"
    return None


def problems(cfg: DictConfig, families: dict) -> list[str]:
    """One line per setting that is unset (``???``) or outside what is accepted; ``families``:
    the family classes by name (``harness.models.families()``), whose names a study's settings
    use and whose declared ``choices`` are checked here."""
    try:
        missing = sorted(OmegaConf.missing_keys(cfg))  # resolves every value on the way
    except Exception as e:  # noqa: BLE001 - e.g. an interpolation to a key that is not there
        return [f"{getattr(e, 'full_key', None) or 'the config'} cannot be resolved: "
                f"{str(e).splitlines()[0]}"]
    out = [f"{k} is required and has no value: set it on the command line ({k}=...)"
           for k in missing] + study_problems(cfg, families) + reserved_keys(cfg) \
        + unknown_keys(cfg) + unread_keys(cfg) + argument_problems(cfg)
    for key, rule in RULES.items():
        node, _, leaf = key.rpartition(".")
        parent = OmegaConf.select(cfg, node) if node else cfg
        if parent is not None and not isinstance(parent, DictConfig):  # model.module=5
            out.append(f"{node}={parent!r} is not accepted: it is a group of settings; set its "
                       f"keys instead ({node}.<key>=...)")
            continue
        if parent is None or leaf not in parent or OmegaConf.is_missing(parent, leaf):
            continue  # not a setting of this config (or reported as missing above)
        line = _problem(key, OmegaConf.select(cfg, key), rule)
        if line:
            out.append(line)
    out += study_name_problems(OmegaConf.select(cfg, "study", default=None))
    choices = {**CHOICES, **{k: v for f in families.values() for k, v in f.choices.items()}}
    for key, (accepted, meaning) in choices.items():
        value = OmegaConf.select(cfg, key)
        if value is not None and value not in accepted:
            out.append(f"{key}={value!r} is not accepted: give {' or '.join(accepted)} "
                       f"({meaning})")
    return out


def argument_problems(cfg: DictConfig) -> list[str]:
    """One line per ``POSITIVE`` parameter out of range, named by the key the value comes from
    (``model.width`` for the article's networks, whose widths interpolate it), once."""
    out = []
    for prefix, node, cls in targets(cfg):
        params = parameters(cls) or {}
        for name, meaning in POSITIVE.items():
            if name not in node or name not in params:
                continue
            source = REFERENCE.fullmatch(str(node[name]))
            kind = params[name].annotation
            if getattr(kind, "__name__", kind) == "int":
                rule = _int(1, note=meaning)
            else:
                rule = Rule(float, lambda v: 0 < v < math.inf, f"a number > 0 ({meaning})")
            out.append(_problem(source.group(1) if source else f"{prefix}{name}",
                                OmegaConf.select(cfg, f"{prefix}{name}"), rule))
    return list(dict.fromkeys(line for line in out if line))


def launcher_problems(launcher: Any) -> list[str]:
    """The ``hydra.launcher`` node's settings the harness knows: joblib's ``n_jobs`` (0 means
    nothing to joblib, which raised a page of traceback once the sweep had started)."""
    n_jobs = launcher.get("n_jobs") if launcher is not None else None
    if n_jobs is None or (isinstance(n_jobs, int) and not isinstance(n_jobs, bool) and n_jobs):
        return []
    return [f"hydra.launcher.n_jobs={n_jobs!r} is not accepted: give the number of jobs that run "
            f"at once (>= 1), or a negative number as joblib counts (-1 = one per core, -2 = "
            f"all cores but one)"]


STUDY_NAME = re.compile(r"[A-Za-z0-9_.=+-]+(/[A-Za-z0-9_.=+-]+)*")


def study_name_problems(study: Any) -> list[str]:
    """``study`` names folders (``multirun/<study>/``, ``results/<study>/``): a name, or names
    joined by ``/``, never a path out of them."""
    if study is None or (isinstance(study, str) and STUDY_NAME.fullmatch(study)
                         and not {".", ".."} & set(study.split("/"))):
        return []
    return [f"study={study!r} is not accepted: give a name, or names joined by / (letters, "
            f"digits, _ . - = +), which becomes multirun/<study>/ and the report's folder"]


def _pairing_problem(key: str, value: Any) -> str | None:
    from harness.core.pixels import HEADS, SCALINGS  # torch: not before a bad choice is refused

    if not isinstance(value, dict) or set(value) != {"scaling", "head"} \
            or value["scaling"] not in SCALINGS or value["head"] not in HEADS:
        return (f"{key}={value!r} is not accepted: give {{scaling: <{'|'.join(SCALINGS)}>, "
                f"head: <{'|'.join(HEADS)}>}}")
    return None


def _contrast_problems(key: str, value: Any) -> list[str]:
    """``contrasts.<family>``: a list of ``{a: <cell>, b: <cell>, at: <step>}``, each cell a
    pairing with the settings that tell it apart (``harness.report.contrasts``)."""
    shape = ("give a list of {a: {scaling: ..., head: ..., <setting>: ...}, b: {...}, "
             "at: <step, optional>}")
    if not isinstance(value, list) or not value:
        return [f"{key}={value!r} is not accepted: {shape}"]
    out = []
    for i, c in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(c, dict) or not {"a", "b"} <= set(c) or set(c) - {"a", "b", "at"}:
            out.append(f"{where}={c!r} is not accepted: {shape}")
            continue
        at = c.get("at")
        if at is not None and (isinstance(at, bool) or not isinstance(at, int) or at < 1):
            out.append(f"{where}.at={at!r} is not accepted: give a step >= 1 (the window ends "
                       f"at the last evaluation at or before it)")
        for side in ("a", "b"):
            cell = c[side]
            if not isinstance(cell, dict):
                out.append(f"{where}.{side}={cell!r} is not accepted: {shape}")
            else:
                out.append(_pairing_problem(f"{where}.{side}", {k: cell.get(k) for k in
                                                                ("scaling", "head")}))
    return out


def study_problems(cfg: DictConfig, known: dict) -> list[str]:
    """The report's study settings (``STUDY_KEYS``: ``reference``, ``target``, ... per family),
    checked with the rest: a bad one would otherwise surface in the report, after every run."""
    out = []
    for group in STUDY_KEYS:
        node = OmegaConf.select(cfg, group)
        if node is None:
            continue
        value = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        if not isinstance(value, dict):
            out.append(f"{group}={value!r} is not accepted: give a mapping per family "
                       f"({', '.join(sorted(known))})")
            continue
        for family, v in value.items():
            key = f"{group}.{family}"
            if family not in known:
                out.append(f"{key} names no family: give one of {', '.join(sorted(known))}")
            elif group == "reference":
                out.append(_pairing_problem(key, v))
            elif group == "target" and (isinstance(v, bool) or not isinstance(v, (int, float))):
                out.append(f"{key}={v!r} is not accepted: give a number (the primary "
                           f"metric's value that counts as quality, e.g. {key}=300)")
            elif group == "noise_floor":
                if not isinstance(v, list) or len(v) != 2:
                    out.append(f"{key}={v!r} is not accepted: give two pairings, "
                               f"[{{scaling: ..., head: ...}}, {{scaling: ..., head: ...}}]")
                else:
                    out += [_pairing_problem(f"{key}[{i}]", x) for i, x in enumerate(v)]
            elif group == "window" and (isinstance(v, bool) or not isinstance(v, int)
                                        or v < 1):
                out.append(f"{key}={v!r} is not accepted: give an integer >= 1 (how many of "
                           f"the last evaluations a verdict averages, e.g. {key}=3)")
            elif group == "contrasts":
                out += _contrast_problems(key, v)
            elif group == "answer":
                out.append(answer_problem(key, v))
            elif group == "shown" and (not isinstance(v, list)
                                       or not all(isinstance(m, str) for m in v)):
                out.append(f"{key}={v!r} is not accepted: give a list of metric names, "
                           f"e.g. {key}=[ssim,colour_mean_gap]")
    return [line for line in out if line]
