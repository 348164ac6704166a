"""Each patch of Rasa (extensions/rasa_patches.py) still fits the Rasa it patches, and none
is installed by importing a module."""

from __future__ import annotations

import ast
import inspect
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from extensions import (
    action_calls,
    follow_ups,
    paused,
    rasa_patches,
    rule_matching,
    speedups,
    tracker_history,
    tracker_store,
    typed_buttons,
)

EXTENSIONS = Path(__file__).resolve().parents[2] / "extensions"


@pytest.mark.parametrize("patched", rasa_patches.PATCHED, ids=lambda p: p.internal)
def test_the_patched_internal_is_still_there_with_its_signature(
    patched: rasa_patches.Patched,
) -> None:
    own = rasa_patches.original(patched.internal)  # Rasa's, even once patched
    assert str(inspect.signature(own)) == patched.signature, (
        f"Rasa's {patched.internal} changed: check {patched.by} (docs/rasa-patches.md)"
    )


def test_the_installed_rasa_is_the_one_the_patches_were_written_for() -> None:
    import rasa

    assert rasa.__version__ == rasa_patches.RASA_VERSION


@pytest.mark.parametrize(
    "install",
    [
        rasa_patches.install,
        speedups.install,
        typed_buttons.install,
        tracker_store.install,
        paused.install,
        follow_ups.install,
        action_calls.install,
        tracker_history.install,
        rule_matching.install,
    ],
    ids=lambda f: f.__module__,
)
def test_every_install_refuses_another_rasa_release_and_says_why(
    install: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import rasa

    monkeypatch.setattr(rasa, "__version__", "3.7.0")
    with caplog.at_level(logging.ERROR), pytest.raises(rasa_patches.WrongRasaVersion):
        install()
    assert "patches Rasa 3.6.21 internals; found Rasa 3.7.0" in caplog.text


def test_only_a_listed_internal_can_be_replaced() -> None:
    class Elsewhere:
        def method(self) -> None: ...

    with pytest.raises(KeyError, match=re.escape("not in extensions/rasa_patches.py's PATCHED")):
        rasa_patches.replace(Elsewhere, "method", lambda self: None)


def module_level_side_effects(path: Path) -> list[str]:
    """Statements run at import that set another object's attribute or call an install."""
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Attribute) for t in targets):
            found.append(f"{path.name}:{node.lineno} sets an attribute")
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("install", "replace", "setattr", "threadpool_limits"):
                found.append(f"{path.name}:{node.lineno} calls {name}")
    return found


def test_importing_an_extension_patches_nothing() -> None:
    found = [f for p in sorted(EXTENSIONS.glob("*.py")) for f in module_level_side_effects(p)]
    assert found == []
