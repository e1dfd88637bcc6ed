"""The tree is the pipeline: every subpackage of ``harness`` imports only from the stages before
it, and no module imports itself back through others, counting imports inside functions."""
from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "harness"
# the order a run's data flows through the stages; a stage imports only from itself and earlier
STAGES = ("core", "data", "metrics", "models", "report", "run", "bench")
TOP = len(STAGES)  # harness/__init__.py and the entry point harness/train.py: above every stage


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The ``harness`` modules a file imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "harness"}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:  # relative: resolved from the file's package
                base = module_name(path).split(".")
                base = base if path.name == "__init__.py" else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module])
            else:
                target = node.module
            if target.split(".")[0] != "harness":
                continue
            for a in node.names:  # `from harness.report import cli` imports a module
                found.add(f"{target}.{a.name}" if f"{target}.{a.name}" in known else target)
    return {m for m in found if m in known}


def stage(module: str) -> int:
    parts = module.split(".")
    return STAGES.index(parts[1]) if len(parts) > 1 and parts[1] in STAGES else TOP


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(p, known) - {m} for m, p in known.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_walk_finds_function_level_imports_and_cycles():
    """The checker itself can fail: it sees an import inside a function, and a loop."""
    known = modules()
    assert "harness.run.fit" in imports(PACKAGE / "run" / "runs.py", known)
    assert "harness.run.runs" in imports(PACKAGE / "run" / "precheck.py", known)  # in a function
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_loop_in_the_package():
    assert cycle(graph()) is None


def test_every_stage_imports_only_from_the_stages_before_it():
    wrong = [f"{m} ({STAGES[stage(m)] if stage(m) < TOP else 'top'}) imports {n} "
             f"({STAGES[stage(n)] if stage(n) < TOP else 'top'})"
             for m, targets in graph().items() for n in targets if stage(n) > stage(m)]
    assert wrong == []


def test_only_the_stages_and_the_entry_point_sit_at_the_top():
    loose = sorted(m for m in modules() if stage(m) == TOP)
    assert loose == ["harness", "harness.train"]
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} \
        == set(STAGES)


def test_the_package_never_imports_its_own_plugins():
    """The sweeper plugin calls into the package, never the other way round (the entry point
    once read the sweeper's module globals to learn how a sweep ended)."""
    found = [f"{module_name(p)}" for p in PACKAGE.rglob("*.py")
             for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, (ast.Import, ast.ImportFrom))
             and any(n.startswith("hydra_plugins.harness") for n in
                     ([a.name for a in node.names] if isinstance(node, ast.Import)
                      else [node.module or ""]))]
    assert found == []


def test_the_entry_point_imports_no_torch_so_a_bad_command_line_is_refused_at_once():
    """``harness.train`` refuses an unknown choice before torch loads (0.3 s, not 3 s): what it
    imports at module level stays in the light stages."""
    import subprocess
    import sys

    code = "import sys, harness.train; print(sorted(m for m in ('torch', 'pytorch_lightning') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_readme_names_every_module():
    """README's module table lists every module of the package and the plugins by file name."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| stage | module | holds |"):]
    table = table[:table.index("\n\n")]
    missing = sorted(str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                     if p.name not in ("__init__.py", "__main__.py")
                     and f"`{p.name}`" not in table and f"`{p.relative_to(ROOT)}`" not in table)
    assert missing == []
    assert "`harness/train.py`" in table and "`hydra_plugins/harness_sweeper/`" in table
