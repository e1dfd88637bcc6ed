"""Which data a family trains on: a family declares what it ``needs`` (a ``typing.Protocol``),
and a data module, or its class, either offers it or gets one line naming what it lacks and the
``data=`` choices that fit, before anything is built or loaded."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from harness.core.keys import target_class as class_at
from harness.core.repo import CONF_DIR


def protocol_members(proto: type) -> list[str]:
    """The attribute and method names a ``typing.Protocol`` declares."""
    names = list(getattr(proto, "__annotations__", {}))
    names += [k for k, v in vars(proto).items() if callable(v) and not k.startswith("_")]
    return names


def provides(data) -> set[str]:
    """What a data module, or its class, offers a family: its attributes and methods, and the
    attributes its class declares (annotates) for ``setup`` to fill, so that a class can be
    checked before anything is built or loaded."""
    cls = data if isinstance(data, type) else type(data)
    return set(dir(data)) | {n for k in cls.__mro__ for n in vars(k).get("__annotations__", {})}


@lru_cache(maxsize=None)
def data_options() -> dict[str, tuple[str | None, str | None]]:
    """Every ``conf/data`` option -> (its data module's ``_target_``, its ``source``), read
    through the files each builds on (its defaults list, its own keys last)."""
    from omegaconf import OmegaConf

    folder = Path(CONF_DIR) / "data"

    def keys(name: str) -> dict:
        own = OmegaConf.to_container(OmegaConf.load(folder / f"{name}.yaml"), resolve=False)
        out: dict = {}
        for base in own.pop("defaults", []):
            if isinstance(base, str) and base != "_self_":
                out.update(keys(base.split("@")[0]))
        return {**out, **own}

    return {p.stem: (k.get("_target_"), k.get("source"))
            for p in sorted(folder.glob("*.yaml")) for k in [keys(p.stem)]}


def data_lacks(family: type, data) -> list[str]:
    """What ``family`` needs that a data module, or its class, does not offer."""
    have = provides(data)
    return [n for n in protocol_members(family.needs) if n not in have]


def data_problem(family: type, data, source: str | None = None) -> str | None:
    """One line when a data module, or its class (``source``: its config's), lacks what
    ``family`` needs: the ``data=`` choice, what it lacks, and the data choices that fit."""
    lacks = data_lacks(family, data)
    if not lacks:
        return None
    kind = data if isinstance(data, type) else type(data)
    here = (f"{kind.__module__}.{kind.__qualname__}", getattr(data, "source", source))
    named = [o for o, key in data_options().items() if key == here]
    fits = [o for o, (target, _) in data_options().items()
            if target and (c := class_at(target)) is not None and not data_lacks(family, c)]
    name = named[0] if len(named) == 1 else kind.__name__
    return (f"model family '{family.family}' does not train on data={name} "
            f"(its {kind.__name__} has no {', '.join(lacks)}): give data="
            f"{' or '.join(fits)}")


def data_mismatch(cfg) -> str | None:
    """One line when a config's model family cannot train on its data (``model=seg
    data=digits``), read from the family's ``needs`` and the data class alone: before the
    config is resolved, where the family's keys would fail on data keys that are not there."""
    from omegaconf import OmegaConf

    family = class_at(OmegaConf.select(cfg, "model.module._target_", default=None) or "")
    target = OmegaConf.select(cfg, "data._target_", default=None)
    data = class_at(target or "")
    if not (isinstance(family, type) and hasattr(family, "needs") and data):  # a family module
        return None
    return data_problem(family, data, OmegaConf.select(cfg, "data.source", default=None))
