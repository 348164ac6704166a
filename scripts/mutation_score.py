"""Mutation score per target from `mutmut results --all true` listings (`make mutation`).

Usage: mutation_score.py MIN_PERCENT NAME=RESULTS_FILE [NAME=RESULTS_FILE ...]

Prints, per target, each module's killed/total and the target's score, and exits 1 when a
target scores under MIN_PERCENT. Killed counts a mutant the tests failed on or timed out on;
every other status (survived, no tests, suspicious, not checked) counts against the score.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

LINE = re.compile(r"^\s*(?P<name>[\w.]+?)\.x\S*__mutmut_\d+: (?P<status>.+?)\s*$")
KILLED = {"killed", "timeout", "caught by type check"}
SKIPPED = {"skipped"}  # mutants mutmut itself leaves out count nowhere


def score(path: Path) -> tuple[dict[str, Counter[str]], int, int]:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for line in path.read_text(encoding="utf-8").splitlines():
        match = LINE.match(line)
        if match and match["status"] not in SKIPPED:
            by_module[match["name"]][match["status"]] += 1
    killed = sum(c[s] for c in by_module.values() for s in KILLED)
    total = sum(sum(c.values()) for c in by_module.values())
    return by_module, killed, total


def main(argv: list[str]) -> int:
    minimum = float(argv[0])
    failed = False
    for spec in argv[1:]:
        name, _, file = spec.partition("=")
        by_module, killed, total = score(Path(file))
        for module, counts in sorted(by_module.items()):
            k = sum(counts[s] for s in KILLED)
            rest = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in KILLED)
            print(f"  {module:45} {k:4}/{sum(counts.values()):<4} killed  {rest}")
        percent = 100 * killed / total if total else 0.0
        verdict = "ok" if percent >= minimum else f"UNDER {minimum:.0f}%"
        print(f"mutation {name}: {killed}/{total} killed = {percent:.1f}% ({verdict})")
        failed |= percent < minimum
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
