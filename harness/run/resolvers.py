"""The resolvers the configs use, registered when ``harness`` is imported, so composing a config
from any entry point (the command line, the sweeper's workers, the tests' compose) finds them.

- ``harness_not_result``: the override keys left out of run directory names, derived from
  ``harness.core.record.NOT_RESULT`` (what never changes a result), so a directory name and a
  config key agree on what "the same run" is;
- ``tuned``: a searched setting read back (``harness.run.tuned``);
- ``harness_trainer_gpus``: the GPUs a SLURM job asks for (``harness.run.slurm``).
"""
from __future__ import annotations

from omegaconf import OmegaConf

from harness.core.record import NOT_RESULT, STUDY_KEYS
from harness.run.slurm import trainer_gpus
from harness.run.tuned import tuned


def _below(node, prefix: str) -> list[str]:
    """Every dotted key under a mapping (its values left unresolved)."""
    if not isinstance(node, dict):
        return []
    return [k for key, child in node.items()
            for k in (f"{prefix}.{key}", *_below(child, f"{prefix}.{key}"))]


def not_result_keys(*, _root_) -> list[str]:
    """Every override key that cannot change a result: each ``NOT_RESULT`` key and the keys
    under it in this config, each study key per family (``reference.gan``,
    ``reference.gan.head``, ...), and ``experiment``, a choice of study, not of a run."""
    from harness.models import families

    keys = ["experiment"]
    for dotted in NOT_RESULT:
        node = OmegaConf.select(_root_, dotted, default=None)
        below = OmegaConf.to_container(node, resolve=False) if OmegaConf.is_dict(node) else None
        keys += [dotted, *_below(below, dotted)]
    keys += [f"{group}.{family}{leaf}" for group in STUDY_KEYS for family in families()
             for leaf in ("", ".scaling", ".head")]
    return list(dict.fromkeys(keys))


def register() -> None:
    OmegaConf.register_new_resolver("harness_not_result", not_result_keys, replace=True)
    OmegaConf.register_new_resolver("tuned", tuned, replace=True)
    OmegaConf.register_new_resolver("harness_trainer_gpus", trainer_gpus, replace=True)
