"""One-line errors for unknown config-group choices, before Hydra prints a page of them."""
from __future__ import annotations

import sys
from pathlib import Path


def group_options(conf_dir: str, group: str) -> list[str] | None:
    """The options of a config group under ``conf_dir``, or None if it is not a group."""
    d = Path(conf_dir) / group
    if not d.is_dir():
        return None
    return sorted(p.stem for p in d.glob("*.yaml"))


def check_choices(conf_dir: str, argv: list[str]) -> None:
    """Exit with ``error: unknown <group> '<name>'; valid choices: ...`` for a bad choice."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = [a for a in argv if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except Exception:  # noqa: BLE001 - Hydra reports malformed overrides itself
        return
    for o in overrides:
        group = o.key_or_group
        options = None if o.is_delete() or group.startswith("hydra/") else group_options(conf_dir, group)
        if not options:
            continue
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
        for v in values:
            if v not in options and v != "null":
                print(f"error: unknown {group} '{v}'; valid choices: {', '.join(options)}",
                      file=sys.stderr)
                sys.exit(2)
