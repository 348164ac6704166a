"""`rasa data validate`, failing on every warning but one kind of false alarm.

Rasa warns "The utterance 'utter_x' is not used in any story or rule" for a
response that only a custom action sends (`response="utter_x"` in
actions/), for a form's question (`utter_ask_<slot>`) and for the default
fallback's `utter_default`. Those are used. It also warns that an intent has no
NLU examples for the intents the channels send instead of a text they cannot
pass on (extensions/inbound.py): nobody types those. Every other warning fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNUSED = re.compile(r"The utterance '(utter_\w+)' is not used in any story or rule")
NO_EXAMPLES = re.compile(r"The intent '(\w+)' is listed in the domain file, but is not found in")
CHANNEL_INTENTS = {"message_empty", "message_too_long"}


def responses_sent_by_actions() -> set[str]:
    """Responses named in the actions, or in the operator console (which sends
    the handoff's notices through Rasa's HTTP API)."""
    pattern = re.compile(r"[\"'](utter_\w+)[\"']")
    sources = [*(ROOT / "actions").rglob("*.py"), *(ROOT / "backend/src/console").rglob("*.py")]
    return {m for path in sources for m in pattern.findall(path.read_text())}


def responses_used_by_forms() -> set[str]:
    import yaml  # from the Rasa environment this script runs in

    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    slots = {s for form in (domain.get("forms") or {}).values() for s in form["required_slots"]}
    return {f"utter_ask_{slot}" for slot in slots} | {"utter_default"}


def main() -> int:
    result = subprocess.run(
        [str(ROOT / ".venv/bin/rasa"), "data", "validate", "--max-history", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    sent = responses_sent_by_actions() | responses_used_by_forms()
    problems = []
    for line in output.splitlines():
        if "UserWarning" not in line and "WARNING" not in line and "ERROR" not in line:
            continue
        unused = UNUSED.search(line)
        if unused and unused.group(1) in sent:
            continue
        no_examples = NO_EXAMPLES.search(line)
        if no_examples and no_examples.group(1) in CHANNEL_INTENTS:
            continue
        problems.append(line.strip())
    if result.returncode != 0 or problems:
        print(output)
        print(f"\nvalidate: {len(problems)} problem(s):", *problems, sep="\n  ")
        return 1
    print("validate: domain and training data are consistent (no warnings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
