"""No function in actions/ or extensions/ is longer than a screen: 60 lines, docstring and
all. A longer one is split into named steps."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 60


def long_functions(directory: Path) -> list[str]:
    found = []
    for path in sorted(directory.glob("**/*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    return found


def test_no_function_exceeds_sixty_lines() -> None:
    assert long_functions(ROOT / "actions") + long_functions(ROOT / "extensions") == []
