"""How often the NLU reads a request from another domain as one of the assistant's intents.

Parses every message of the held-out probe (tests/nlu/ood_probe.yml) through the trained
model's whole NLU pipeline, FallbackClassifier included, as the running assistant does,
and prints for each domain the share read as an intent of this assistant instead of
`out_of_scope` or `nlu_fallback`, the intents that absorb them, and the worst examples.
Exits 1 when more than 3 % of the other-domain requests, or of the gibberish, are misread,
or when a probe message is also a training example (the probe would no longer be held out).

Every intent other than `out_of_scope` and `nlu_fallback` counts as a misreading, the
social ones included (greet, goodbye, affirm, deny, thankyou, bot_challenge, stop): the
probe holds no greeting, thanks, yes/no or "are you a bot", so "what's your star sign"
read as `bot_challenge` or "asdfgh" read as `affirm` is as wrong as a dispute. The report
gives apart the part read as a dispute intent (any but the social ones and the never-typed
control intents), since those start or feed a flow.

    .venv/bin/python scripts/ood_probe.py [--model PATH] [--probe PATH] [--limit 0.03]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the pipeline's own components live in extensions/

NOT_UNDERSTOOD = frozenset({"out_of_scope", "nlu_fallback"})
# The domain's conversational intents: misreadings too, but they start no dispute flow.
SOCIAL = frozenset({"greet", "goodbye", "affirm", "deny", "thankyou", "bot_challenge", "stop"})
# Never typed: Rasa's own (restart, back, session_start) and the channels' (extensions/inbound.py).
CONTROL = frozenset({"restart", "back", "session_start", "message_empty", "message_too_long"})
GIBBERISH = "gibberish"
NEAR_MISSES = "near_misses"


@dataclass(frozen=True)
class Reading:
    domain: str
    text: str
    intent: str
    confidence: float

    @property
    def misread(self) -> bool:
        return self.intent not in NOT_UNDERSTOOD

    @property
    def starts_flow(self) -> bool:
        return self.misread and self.intent not in SOCIAL | CONTROL


def load_probe(path: Path) -> list[tuple[str, str]]:
    """(domain, message) pairs; the gibberish list is its own domain."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    pairs = [(domain, text) for domain, texts in data["other_domains"].items() for text in texts]
    pairs += [(GIBBERISH, text) for text in data[GIBBERISH]]
    bad = [text for _, text in pairs if not isinstance(text, str) or not text.strip()]
    if bad:
        raise SystemExit(f"{path}: not a message: {bad!r}")
    return pairs


def training_overlap(pairs: list[tuple[str, str]], nlu_dir: Path) -> list[str]:
    """Probe messages that are also training examples (case and spacing aside): the probe
    is held out only while this is empty."""
    from rasa.shared.nlu.training_data.loading import load_data

    def key(text: str) -> str:
        return " ".join(text.casefold().split())

    trained = {key(m.get("text") or "") for m in load_data(str(nlu_dir)).training_examples}
    return [text for _, text in pairs if key(text) in trained]


async def read_all(model: Path, pairs: list[tuple[str, str]]) -> tuple[list[Reading], list[str]]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    readings = []
    for domain, text in pairs:
        parsed = await agent.parse_message(text)
        intent = parsed.get("intent") or {}
        readings.append(
            Reading(domain, text, intent.get("name") or "", float(intent.get("confidence") or 0))
        )
    return readings, list(agent.domain.intents)


def share(readings: list[Reading], starts_flow: bool = False) -> float:
    if not readings:
        return 0.0
    hits = [r for r in readings if (r.starts_flow if starts_flow else r.misread)]
    return len(hits) / len(readings)


def top_intents(readings: list[Reading], n: int = 3) -> str:
    counts = Counter(r.intent for r in readings if r.misread)
    return ", ".join(f"{intent} {count}" for intent, count in counts.most_common(n))


def report(readings: list[Reading], intents: list[str], worst: int) -> tuple[float, float]:
    """Prints the report; returns the misread shares of other domains and of gibberish."""
    flow = sorted(i for i in intents if i not in NOT_UNDERSTOOD | SOCIAL | CONTROL)
    print("accepted answers:   ", ", ".join(sorted(NOT_UNDERSTOOD)))
    print("misread, social:    ", ", ".join(sorted(SOCIAL & set(intents))))
    print("misread, never typed:", ", ".join(sorted(CONTROL & set(intents))))
    print("misread, dispute:   ", ", ".join(flow))
    print()
    domains = list(dict.fromkeys(r.domain for r in readings))
    print(f"{'domain':<20}{'n':>5}{'misread':>10}{'dispute':>10}   absorbed by")
    other = [r for r in readings if r.domain != GIBBERISH]
    gibberish = [r for r in readings if r.domain == GIBBERISH]
    rows = [(d, [r for r in readings if r.domain == d]) for d in domains if d != GIBBERISH]
    plain = [r for r in other if r.domain != NEAR_MISSES]
    rows += [
        ("ALL OTHER DOMAINS", other),
        (f"  excl. {NEAR_MISSES}", plain),
        (GIBBERISH, gibberish),
    ]
    for name, group in rows:
        if name == "ALL OTHER DOMAINS":
            print("-" * 72)
        print(
            f"{name:<20}{len(group):>5}{share(group):>10.1%}{share(group, True):>10.1%}"
            f"   {top_intents(group)}"
        )
    misread = [r for r in readings if r.misread]
    print()
    print("intents that absorb the misread requests (other domains + gibberish):")
    for intent, count in Counter(r.intent for r in misread).most_common():
        print(f"  {intent:<24}{count:>4}")
    print()
    print(f"the {worst} most confident misreadings:")
    for r in sorted(misread, key=lambda r: -r.confidence)[:worst]:
        print(f"  {r.confidence:.2f}  {r.intent:<22} {r.domain:<18} {r.text!r}")
    return share(other), share(gibberish)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/dispute-assistant.tar.gz")
    parser.add_argument("--probe", type=Path, default=ROOT / "tests/nlu/ood_probe.yml")
    parser.add_argument("--nlu", type=Path, default=ROOT / "data/nlu", help="training data")
    parser.add_argument("--limit", type=float, default=0.03, help="highest share allowed")
    parser.add_argument("--worst", type=int, default=30, help="misreadings to list")
    args = parser.parse_args(argv)

    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # else every parse is logged to stdout
    for noisy in ("rasa", "tensorflow", "absl"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    pairs = load_probe(args.probe)
    overlap = training_overlap(pairs, args.nlu)
    readings, intents = asyncio.run(read_all(args.model, pairs))
    other_share, gibberish_share = report(readings, intents, args.worst)
    print()
    print(f"held out: {len(overlap)} of {len(pairs)} probe messages are also training examples")
    for text in overlap:
        print(f"  {text!r}")
    print(f"other domains misread: {other_share:.1%} (limit {args.limit:.0%})")
    print(f"gibberish misread:     {gibberish_share:.1%} (limit {args.limit:.0%})")
    failed = other_share > args.limit or gibberish_share > args.limit or bool(overlap)
    print("FAIL" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
