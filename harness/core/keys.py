"""Keys that mean what they say: a config key either changes what a run does, or is refused.

- every key of a node with a ``_target_`` must be a parameter its class takes (a key another
  source or family would read, e.g. ``data.mosaic`` with ``data=voc``, does nothing here);
- keys the harness sets itself (``RESERVED``) cannot be set from the config;
- a key added (``+key=...``) where no class takes it, and nothing reads it by name or through
  an interpolation, is refused naming the nearest known key: Hydra's own hint after a typo is
  to add ``+``, and ``+stpes=5`` then trained the default steps, silently;
- a command-line override of a key the config does not have is one line naming the nearest key
  beside it, not Hydra's page; any other override Hydra cannot apply is one line of its words.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from harness.core.repo import CONF_DIR

# key -> why the config cannot set it: the harness passes these to Lightning itself
RESERVED = {
    "trainer.max_epochs": "the harness sets it (the run's `steps` batches, cut into epochs of "
                          "`checkpoint_every`): set steps or checkpoint_every instead",
    "trainer.enable_checkpointing": "the harness sets it from `checkpoint_every` (0 = none)",
    "trainer.log_every_n_steps": "the harness logs itself: set log_every instead",
    "trainer.reload_dataloaders_every_n_epochs": "the harness sets it: each epoch is the next "
                                                 "chunk of the (seed, step) stream",
}


def parameters(cls) -> dict[str, inspect.Parameter] | None:
    """The keyword parameters ``cls(...)`` takes, by name, following ``**kwargs`` up its bases;
    None where they reach a class that takes anything."""
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        if klass is object:
            return None
        params = inspect.signature(init).parameters.values()
        found.update({p.name: p for p in params if p.name != "self" and p.name not in found
                      and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)})
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return found
    return None


def accepted(cls) -> set[str] | None:
    """The keyword parameter names ``cls(...)`` takes; None where it takes anything."""
    params = parameters(cls)
    return None if params is None else set(params)


def target_class(path: str):
    """The class a ``_target_`` names, or None where it does not import."""
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


def targets(cfg: DictConfig):
    """(dotted prefix, unresolved mapping, class) of every node with a ``_target_`` whose
    class imports."""
    for prefix, node in _walk(OmegaConf.to_container(cfg, resolve=False)):
        cls = target_class(str(node["_target_"]))
        if cls is not None:
            yield prefix, node, cls


def unknown_keys(cfg: DictConfig) -> list[str]:
    """One line per key that no class of the config takes."""
    out = []
    for prefix, node, cls in targets(cfg):
        takes = accepted(cls)
        if takes is None:
            continue
        for key in node:
            if not str(key).startswith("_") and key not in takes and f"{prefix}{key}" not in RESERVED:
                source = node.get("source") if key != "source" else None
                where = f"{cls.__name__}" + (f" (source {source})" if source else "")
                out.append(f"{prefix}{key} does nothing here: {where} takes no '{key}'; its "
                           f"settings are {', '.join(sorted(k for k in takes if k in node))}")
    return out


# nodes without a ``_target_`` whose keys are read by name (by the code, or by a config outside
# the run's, e.g. hydra's report callback reads paths.results_dir); the top level's are
# conf/train.yaml's. Any other key there must be read through an interpolation (gan_article's
# ``model.width``), or it does nothing but change the run's config key
READ_BY_NAME = {"model": ("name", "module"), "paths": ("log_dir", "results_dir", "data_dir"),
                "scaling": ("name",), "head": ("name",)}
REFERENCE = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")  # ${a.b}, also inside ${resolver:...}


def top_level_keys() -> list[str]:
    """The top-level keys conf/train.yaml declares: its own and its defaults' groups."""
    root = OmegaConf.to_container(OmegaConf.load(Path(CONF_DIR) / "train.yaml"))
    groups = [k for entry in root.pop("defaults", []) if isinstance(entry, dict) for k in entry]
    return sorted({*root, *groups} - {"hydra"})


def _strings(node):
    if isinstance(node, dict):
        node = list(node.values())
    if isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def nearest(prefix: str, key: str, known, rest: str = "") -> str:
    """The hint after a key that is not there, or that nothing reads: ``did you mean
    <prefix><nearest><rest>?``, or where the settings are when no known key is near."""
    close = difflib.get_close_matches(key, sorted(known), n=1)
    if close:
        return f"did you mean {prefix}{close[0]}{rest}?"
    if prefix:
        return f"the settings there are {', '.join(prefix + k for k in sorted(known))}"
    return "the top-level settings are in conf/train.yaml"


def unread_keys(cfg: DictConfig) -> list[str]:
    """One line per key of the top level, or of a node that has no ``_target_`` and whose keys
    the code reads by name (``READ_BY_NAME``), that nothing reads: a ``+`` override's typo,
    named with the nearest key there."""
    tree = OmegaConf.to_container(cfg, resolve=False)
    referenced = {m for text in _strings(tree) for m in REFERENCE.findall(text)}
    out = []
    for where, known in [("", top_level_keys()), *READ_BY_NAME.items()]:
        node = tree.get(where) if where else tree
        if not isinstance(node, dict):
            continue
        prefix = f"{where}." if where else ""
        for key in node:
            if key in known or f"{prefix}{key}" in referenced:
                continue
            read = {*known, *(r[len(prefix):] for r in referenced
                              if r.startswith(prefix) and "." not in r[len(prefix):])}
            out.append(f"{prefix}{key} does nothing: no part of the harness reads it; "
                       + nearest(prefix, str(key), read))
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
    """Hydra's several lines for a command line it cannot compose, as one: an override of a key
    the config lacks named with the nearest key beside it, any other composition or parse error
    in Hydra's own words. None for an error of another kind (its traceback stays)."""
    from hydra.errors import ConfigCompositionException, OverrideParseException

    if not isinstance(error, (ConfigCompositionException, OverrideParseException)):
        return None
    found, cause = NOT_IN_STRUCT.search(str(error)), error.__cause__
    if found and "not in struct" in str(cause or ""):
        return _not_there(found.group(1).lstrip("+~"), cause)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(line if line[-1] in ".:;?!" or line is lines[-1] else f"{line};"
                    for line in lines)


def _not_there(key: str, cause: BaseException) -> str:
    """``key`` overridden but not in the config; ``cause``, OmegaConf's error, names the first
    part of it that is missing (``data.mosaic`` of ``data.mosaic.tint``) and the node it was
    looked for in, whose keys are the candidates."""
    if key in RESERVED:
        return f"{key} cannot be set: {RESERVED[key]}"
    missing = str(getattr(cause, "full_key", "") or key)
    missing = missing if key.startswith(missing) else key
    parent, _, name = missing.rpartition(".")
    node = getattr(cause, "parent_node", None)
    known = [str(k) for k in (node if OmegaConf.is_dict(node) else {})
             if not str(k).startswith("_") and k != "hydra"]
    return (f"{key} is not a setting of this config, so there is nothing to override; "
            + nearest(f"{parent}." if parent else "", name, known, key[len(missing):]))
