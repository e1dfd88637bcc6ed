"""Keys that mean what they say: a config key either changes what a run does, or is refused.

- every key of a node with a ``_target_`` must be a parameter its class takes (a key another
  source or family would read, e.g. ``data.mosaic`` with ``data=voc``, does nothing here);
- keys the harness sets itself (``RESERVED``) cannot be set from the config;
- a command-line override of a key the config does not have is one line, not Hydra's page.
"""
from __future__ import annotations

import importlib
import inspect
import re

from omegaconf import DictConfig, OmegaConf

# key -> why the config cannot set it: the harness passes these to Lightning itself
RESERVED = {
    "trainer.max_epochs": "the harness sets it (the run's `steps` batches, cut into epochs of "
                          "`checkpoint_every`): set steps or checkpoint_every instead",
    "trainer.enable_checkpointing": "the harness sets it from `checkpoint_every` (0 = none)",
    "trainer.log_every_n_steps": "the harness logs itself: set log_every instead",
    "trainer.reload_dataloaders_every_n_epochs": "the harness sets it: each epoch is the next "
                                                 "chunk of the (seed, step) stream",
}


def accepted(cls) -> set[str] | None:
    """The keyword parameters ``cls(...)`` takes, following ``**kwargs`` up its bases; None
    where they reach a class that takes anything."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        if klass is object:
            return None
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names - {"self"}
    return None


def _target_class(path: str):
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None  # Hydra says so when it builds it


def _walk(node: dict, prefix: str = ""):
    """(dotted key, mapping) of every mapping with a ``_target_``, at any depth."""
    if "_target_" in node:
        yield prefix, node
    for key, child in node.items():
        if isinstance(child, dict):
            yield from _walk(child, f"{prefix}{key}.")


def unknown_keys(cfg: DictConfig) -> list[str]:
    """One line per key that no class of the config takes."""
    out = []
    for prefix, node in _walk(OmegaConf.to_container(cfg, resolve=False)):
        cls = _target_class(str(node["_target_"]))
        takes = accepted(cls) if cls is not None else None
        if takes is None:
            continue
        for key in node:
            if not str(key).startswith("_") and key not in takes and f"{prefix}{key}" not in RESERVED:
                source = node.get("source") if key != "source" else None
                where = f"{cls.__name__}" + (f" (source {source})" if source else "")
                out.append(f"{prefix}{key} does nothing here: {where} takes no '{key}'; its "
                           f"settings are {', '.join(sorted(k for k in takes if k in node))}")
    return out


def reserved_keys(cfg: DictConfig) -> list[str]:
    out = []
    for key, why in RESERVED.items():
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent, default=None)
        if OmegaConf.is_dict(node) and leaf in node:
            out.append(f"{key} cannot be set: {why}")
    return out


NOT_IN_STRUCT = re.compile(r"Could not override '([^']+)'")


def override_error(error: BaseException) -> str | None:
    """Hydra's several lines for an override of a key the config lacks, as one; None for any
    other composition error (Hydra's own words stay)."""
    found = NOT_IN_STRUCT.search(str(error))
    if not found or "not in struct" not in str(error.__cause__ or ""):
        return None
    key = found.group(1).lstrip("+~")
    if key in RESERVED:
        return f"{key} cannot be set: {RESERVED[key]}"
    return (f"{key} is not a setting of this config, so there is nothing to override (the "
            f"choices' own settings are in conf/, e.g. data.mosaic.* for data=mosaic only)")
