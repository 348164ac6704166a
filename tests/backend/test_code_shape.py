"""No function in backend/src is longer than 60 lines (the migrations aside: each is one
schema change written out). A longer one is split into named steps."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "backend" / "src"
MAX_LINES = 60


def _sources() -> list[Path]:
    return [
        p
        for p in sorted(SRC.rglob("*.py"))
        if "migrations" not in p.parts and "node_modules" not in p.parts
    ]


def test_no_function_is_longer_than_60_lines() -> None:
    sources = _sources()
    assert len(sources) > 50, "backend/src was not found"
    too_long = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    where = path.relative_to(SRC)
                    too_long.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    assert too_long == []
