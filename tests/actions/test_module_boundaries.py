"""Skill modules stand alone: what two skills share lives in a shared module, so a skill can
be read, changed or removed without reading another."""

from __future__ import annotations

import ast
from pathlib import Path

ACTIONS = Path(__file__).resolve().parents[2] / "actions"

# One module per skill (the names of data/rules/<skill>.yml, near enough) ...
SKILLS = {
    "accounts",
    "delivery",
    "evidence",
    "handoff",
    "manage_dispute",
    "open_dispute",
    "orders",
    "support",
}
# ... and what they share, none of which imports a skill.
SHARED = {
    "__init__",
    "backend_client",
    "common",
    "dispute_text",
    "forms",
    "parsing",
    "server",
    "settings",
}


def imported_actions_modules(module: str) -> set[str]:
    tree = ast.parse((ACTIONS / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.split(".")[1] for n in names if n.startswith("actions.")}
    return found


def test_every_module_is_either_a_skill_or_shared() -> None:
    assert {p.stem for p in ACTIONS.glob("*.py")} == SKILLS | SHARED
    assert not SKILLS & SHARED


def test_no_skill_imports_another_skill() -> None:
    crossings = {m: imported_actions_modules(m) & (SKILLS - {m}) for m in sorted(SKILLS)}
    assert {m: found for m, found in crossings.items() if found} == {}


def test_no_shared_module_imports_a_skill() -> None:
    crossings = {m: imported_actions_modules(m) & SKILLS for m in sorted(SHARED)}
    assert {m: found for m, found in crossings.items() if found} == {}
