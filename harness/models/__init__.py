"""Networks, one per file, and the LightningModules (families) that train them."""
from __future__ import annotations

import importlib
import pkgutil


def families() -> dict:
    """Every family class in this package by its name: found, not listed, so adding a family
    means adding its module and nothing else."""
    from harness.models.base import FamilyModule

    for m in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{m.name}")
    return {c.family: c for c in FamilyModule.__subclasses__()}
