"""Conversations nobody scripted (tests/conversations/*.yml) against the whole stack.

Each conversation starts from the demo data as seeded, with a fresh sender id, through
Rasa's REST channel. Every reply is checked for the facts it must convey and for what
it must not say; at the end, the backend's state of every demo buyer is checked (what
the conversation was meant to change, and that nothing else changed) and whether a
handoff ticket was opened. The report goes to var/results/conversations.md and to the
terminal. One test asserts the pass rate and that every failure is listed, with a
reason, in tests/conversations/known_failures.yml (and nothing listed passes).

`CONVERSATIONS=glob[,glob]` runs only the conversations whose names match.
The format is documented in tests/conversations/README.md.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import yaml

from tests.e2e.conftest import ROOT, RunningStack

FOLDER = ROOT / "tests" / "conversations"
REPORT = ROOT / "var" / "results" / "conversations.md"
MIN_PASS_RATE = 0.97
BUYERS = ("alice", "bruno", "carla", "diego", "erin")
TURN_KEYS = {"say", "expect", "forbid", "fresh", "quiet", "fallback_ok"}
CONVERSATION_KEYS = {"name", "who", "about", "turns", "after", "handoff"}
DISPUTE_FACTS = {"state", "reason", "requested_outcome", "refund", "with_return", "outcome"}
MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
# What any reply must never show, whatever the conversation.
ALWAYS_FORBIDDEN = {
    "an unfilled placeholder": r"\{[a-z_]+\}",
    "a raw intent payload": r"(^|\s)/[a-z_]+\{",
    "a null value": r"\b(None|null|nan|undefined)\b(?! of)",
    "a stack trace": r"Traceback|Exception\b",
}
# Other buyers' order numbers and product names (a reply naming one leaks their data).
OWNED = {
    "alice": [
        "8100000000000011",
        "8100000000000012",
        "8100000000000013",
        "wireless earbuds",
        "phone case",
        "desk lamp",
    ],
    "bruno": [
        "8200000000000021",
        "8200000000000022",
        "8200000000000023",
        "smartwatch",
        "kitchen scale",
        "hiking backpack",
    ],
    "carla": ["8300000000000031", "8300000000000032", "bluetooth speaker", "running shoes"],
    "diego": ["8400000000000041", "8400000000000042", "coffee grinder", "usb-c hub"],
    "erin": ["850000000000010", "850000000000011", "850000000000012", "gadget bundle"],
}


class ScriptError(Exception):
    """A conversation file that does not follow tests/conversations/README.md."""


@dataclass
class Turn:
    say: str
    expect: list[str]
    forbid: list[str]
    fresh: bool = False
    quiet: bool = False
    fallback_ok: bool = False


@dataclass
class Script:
    name: str
    file: str
    who: str | None
    about: str
    turns: list[Turn]
    after: dict[str, dict[str, Any]]
    handoff: bool


@dataclass
class Exchange:
    said: str
    reply: str
    problems: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    script: Script
    sender: str
    exchanges: list[Exchange] = field(default_factory=list)
    state_problems: list[str] = field(default_factory=list)
    changed: bool = True  # whether the backend needs a reset before the next conversation

    @property
    def passed(self) -> bool:
        return not self.state_problems and not any(e.problems for e in self.exchanges)


# --- reading the files ----------------------------------------------------------------


def load_aliases() -> dict[str, str]:
    data = yaml.safe_load((FOLDER / "aliases.yml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data["aliases"].items()}


def euro_pattern(amount: str) -> str:
    """`15.00` -> 15.00 EUR, EUR 15.00, €15, 15 euros, 15,00 € (not 115.00 or 15.5)."""
    whole, _, cents = amount.partition(".")
    number = rf"{whole}[.,]{cents}" if cents else whole
    if not cents or cents == "00":
        number = rf"{whole}(?:[.,]00)?"
    unit = r"(?:€|eur\b|euros?\b)"
    return rf"(?:(?<![\d.,]){number}(?![\d]|[.,]\d)\s?{unit}|{unit}\s?{number}(?![\d]|[.,]\d))"


def expand(pattern: str, aliases: dict[str, str]) -> re.Pattern[str]:
    def one(match: re.Match[str]) -> str:
        word = match.group(1)
        if word.startswith("eur:"):
            return euro_pattern(word[4:])
        if word not in aliases:
            raise ScriptError(f"unknown alias @{word} in {pattern!r}")
        return f"(?:{aliases[word]})"

    return re.compile(re.sub(r"@(eur:\d+(?:\.\d\d)?|[a-z_]+)", one, pattern), re.I | re.S)


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def read_turn(raw: Any, where: str) -> Turn:
    if not isinstance(raw, dict) or "say" not in raw or set(raw) - TURN_KEYS:
        raise ScriptError(f"{where}: a turn needs `say` and only {sorted(TURN_KEYS)}")
    if not isinstance(raw["say"], str):  # YAML reads a bare yes, no or 15 as a bool or number
        raise ScriptError(f"{where}: quote `say: {raw['say']!r}` so that it stays text")
    return Turn(
        say=str(raw["say"]),
        expect=as_list(raw.get("expect")),
        forbid=as_list(raw.get("forbid")),
        fresh=bool(raw.get("fresh", False)),
        quiet=bool(raw.get("quiet", False)),
        fallback_ok=bool(raw.get("fallback_ok", False)),
    )


def read_after(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    after = {str(k): v for k, v in (raw or {}).items()}
    for order_id, facts in after.items():
        if not re.fullmatch(r"\d{16}", order_id) or not isinstance(facts, dict):
            raise ScriptError(f"{where}: `after` maps 16-digit order numbers to facts")
        if set(facts) - DISPUTE_FACTS - {"disputes"}:
            raise ScriptError(f"{where}: unknown facts {sorted(set(facts) - DISPUTE_FACTS)}")
    return after


def read_script(raw: Any, file: str) -> Script:
    where = f"{file}: {raw.get('name', '?') if isinstance(raw, dict) else raw!r}"
    if not isinstance(raw, dict) or set(raw) - CONVERSATION_KEYS or "turns" not in raw:
        raise ScriptError(f"{where}: keys must be among {sorted(CONVERSATION_KEYS)}")
    who = raw.get("who")
    if who not in (*BUYERS, None, "none"):
        raise ScriptError(f"{where}: `who` must be a demo buyer or none")
    return Script(
        name=str(raw["name"]),
        file=file,
        who=None if who in (None, "none") else str(who),
        about=str(raw.get("about", "")),
        turns=[read_turn(t, where) for t in raw["turns"]],
        after=read_after(raw.get("after"), where),
        handoff=bool(raw.get("handoff", False)),
    )


def load_scripts(aliases: dict[str, str]) -> list[Script]:
    scripts: list[Script] = []
    for path in sorted(FOLDER.glob("*.yml")):
        if path.name in ("aliases.yml", "known_failures.yml"):
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        scripts += [read_script(raw, path.name) for raw in data["conversations"]]
    names = [s.name for s in scripts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ScriptError(f"conversation names used twice: {duplicates}")
    for script in scripts:  # every pattern compiles, before anything runs
        for turn in script.turns:
            for pattern in turn.expect + turn.forbid:
                expand(pattern, aliases)
    return scripts


def load_known_failures() -> dict[str, str]:
    data = yaml.safe_load((FOLDER / "known_failures.yml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in (data.get("known_failures") or {}).items()}


def selected(scripts: list[Script]) -> list[Script]:
    wanted = [g.strip() for g in os.environ.get("CONVERSATIONS", "").split(",") if g.strip()]
    if not wanted:
        return scripts
    return [s for s in scripts if any(fnmatch.fnmatch(s.name, g) for g in wanted)]


# --- the backend: reset, read, compare ------------------------------------------------


class Backend:
    """The stack's backend database and API, as the demo buyers and an operator see it."""

    def __init__(self, stack: RunningStack) -> None:
        from dispute_backend.db import make_engine, make_session_factory

        self.stack = stack
        self.engine = make_engine(stack.env["DATABASE_URL"])
        self.sessions = make_session_factory(self.engine)
        self.tokens: dict[str, str] = {}

    def reset(self) -> None:
        """What `python -m dispute_backend seed --reset` does, without a new process."""
        from dispute_backend.db import begin_write
        from dispute_backend.rules import RuleSettings
        from dispute_backend.seed import seed, wipe

        with self.sessions() as session:
            begin_write(session)
            wipe(session)
            seed(session, now=datetime.now(UTC), rs=RuleSettings())
            session.commit()
        # A reset forgets every chat session, and with them every token issued so far.
        self.tokens = {buyer: self.stack.chat_token(buyer) for buyer in BUYERS}

    def disputes(self, buyer: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.stack.buyer_get(self.tokens[buyer], "/disputes")
        return found

    def snapshot(self) -> dict[str, list[tuple[str, str, int]]]:
        """Every order's disputes (id, state, version), newest first, for all buyers."""
        orders: dict[str, list[tuple[str, str, int]]] = {}
        for buyer in BUYERS:
            for d in self.disputes(buyer):
                orders.setdefault(d["order_id"], []).append((d["id"], d["state"], d["version"]))
        return orders

    def newest(self, order_id: str) -> dict[str, Any] | None:
        for buyer in BUYERS:
            for d in self.disputes(buyer):  # newest first
                if d["order_id"] == order_id:
                    return d
        return None

    def has_ticket(self, sender: str) -> bool:
        tickets = self.stack.operator_api("get", "/handoff/tickets")["tickets"]
        return any(t["conversation_id"] == sender for t in tickets)

    def close(self) -> None:
        self.engine.dispose()


def dispute_facts(dispute: dict[str, Any]) -> dict[str, Any]:
    buyer = (dispute.get("proposals") or {}).get("buyer") or {}
    resolution = dispute.get("resolution") or {}
    return {
        "state": dispute["state"],
        "reason": dispute["reason"],
        "requested_outcome": dispute["requested_outcome"],
        "refund": buyer.get("refund_amount"),
        "with_return": buyer.get("with_return"),
        "outcome": resolution.get("outcome"),
    }


def check_order(
    order_id: str, wanted: dict[str, Any], before: list[Any], backend: Backend
) -> list[str]:
    problems: list[str] = []
    after = backend.snapshot().get(order_id, [])
    if "disputes" in wanted and len(after) != int(wanted["disputes"]):
        problems.append(f"order {order_id}: {len(after)} disputes, wanted {wanted['disputes']}")
    newest = backend.newest(order_id)
    facts = {k: v for k, v in wanted.items() if k != "disputes"}
    if facts and newest is None:
        return [*problems, f"order {order_id}: no dispute, wanted {facts}"]
    have = dispute_facts(newest) if newest else {}
    for key, value in facts.items():
        allowed = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        if str(have.get(key)) not in allowed:
            problems.append(f"order {order_id}: {key} is {have.get(key)}, wanted {value}")
    if facts and not problems and len(after) == len(before) and after == before:
        problems.append(f"order {order_id}: unchanged since the seed")
    return problems


def check_state(script: Script, before: dict[str, Any], backend: Backend, outcome: Outcome) -> None:
    problems: list[str] = []
    after = backend.snapshot()
    ticket = backend.has_ticket(outcome.sender)
    outcome.changed = ticket or after != before
    for order_id in sorted(set(before) | set(after)):
        if order_id not in script.after and before.get(order_id) != after.get(order_id):
            problems.append(
                f"order {order_id} changed and should not have: "
                f"{before.get(order_id)} -> {after.get(order_id)}"
            )
    for order_id, wanted in script.after.items():
        problems += check_order(order_id, wanted, before.get(order_id, []), backend)
    if ticket != script.handoff:
        problems.append(
            "a handoff ticket was opened and the buyer never asked for a person"
            if ticket
            else "no handoff ticket was opened for this conversation"
        )
    outcome.state_problems = problems


# --- talking --------------------------------------------------------------------------


def send(stack: RunningStack, sender: str, text: str, token: str | None) -> str:
    """The bot's whole answer to one message: its texts, then its buttons' titles."""
    response = requests.post(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        json={
            "sender": sender,
            "message": text,
            "metadata": {"chat_token": token} if token else {},
        },
        timeout=30,
    )
    if not response.ok:
        return f"<HTTP {response.status_code}: {response.text[:200]}>"
    lines: list[str] = []
    for message in response.json():
        if message.get("text"):
            lines.append(str(message["text"]))
        titles = [str(b.get("title", "")) for b in message.get("buttons") or []]
        if titles:
            lines.append("[buttons: " + " | ".join(titles) + "]")
    return "\n".join(lines)


def leaks(reply: str, who: str | None, typed: str) -> list[str]:
    """Another buyer's order number or product the buyer never typed themselves."""
    found = []
    for buyer, marks in OWNED.items():
        if buyer == who:
            continue
        found += [m for m in marks if m in reply.lower() and m not in typed.lower()]
    return found


def check_reply(
    turn: Turn, reply: str, previous: str | None, context: tuple[str | None, str, Any]
) -> list[str]:
    who, typed, aliases = context
    if reply.startswith("<HTTP"):
        return [f"the request failed: {reply}"]
    if not reply.strip():
        return [] if turn.quiet else ["no answer at all"]
    problems = [
        f"does not convey /{p}/" for p in turn.expect if not expand(p, aliases).search(reply)
    ]
    for pattern in turn.forbid:
        hit = expand(pattern, aliases).search(reply)
        if hit:
            problems.append(f"says /{pattern}/ ({hit.group(0)!r})")
    if not turn.fallback_ok:
        hit = expand("@not_understood", aliases).search(reply)
        if hit:
            problems.append(f"says it did not understand ({hit.group(0)!r})")
    for what, pattern in ALWAYS_FORBIDDEN.items():
        if re.search(pattern, reply):
            problems.append(f"shows {what}")
    if turn.fresh and previous is not None and reply.strip() == previous.strip():
        problems.append("repeats its previous answer word for word")
    problems += [f"names another buyer's {m!r}" for m in leaks(reply, who, typed)]
    return problems


def run_script(
    script: Script, stack: RunningStack, backend: Backend, aliases: dict[str, str]
) -> Outcome:
    before = backend.snapshot()
    sender = f"uc-{uuid.uuid4().hex[:12]}"
    token = stack.chat_token(script.who) if script.who else None
    outcome = Outcome(script, sender)
    typed, previous = "", None
    for turn in script.turns:
        typed += " " + turn.say
        reply = send(stack, sender, turn.say, token)
        problems = check_reply(turn, reply, previous, (script.who, typed, aliases))
        outcome.exchanges.append(Exchange(turn.say, reply, problems))
        previous = reply
    check_state(script, before, backend, outcome)
    return outcome


def run_all(
    scripts: list[Script], stack: RunningStack, backend: Backend, aliases: dict[str, str]
) -> list[Outcome]:
    """Each conversation from the demo data as seeded: the database is reset after any
    conversation that changed it (a dispute, a handoff ticket), and once at the start."""
    outcomes: list[Outcome] = []
    changed = True
    for script in scripts:
        if changed:
            backend.reset()
        outcomes.append(run_script(script, stack, backend, aliases))
        changed = outcomes[-1].changed
    return outcomes


# --- the report -----------------------------------------------------------------------


def clip(text: str, limit: int = 700) -> str:
    flat = text.replace("\n", " / ")
    return flat if len(flat) <= limit else flat[:limit] + " …"


def describe(outcome: Outcome, known: dict[str, str]) -> list[str]:
    script = outcome.script
    lines = [f"### {script.name} ({script.file}, {script.who or 'not signed in'})", ""]
    if script.about:
        lines += [f"_{script.about}_", ""]
    if script.name in known:
        lines += [f"Known: {known[script.name]}", ""]
    for number, exchange in enumerate(outcome.exchanges, start=1):
        mark = "✗" if exchange.problems else "✓"
        lines.append(f"{number}. {mark} buyer: `{clip(exchange.said, 300)}`")
        lines.append(f"   bot: {clip(exchange.reply) or '(nothing)'}")
        lines += [f"   - {problem}" for problem in exchange.problems]
    lines += [f"- state: {problem}" for problem in outcome.state_problems]
    return [*lines, ""]


def build_report(outcomes: list[Outcome], known: dict[str, str], seconds: float) -> str:
    failed = [o for o in outcomes if not o.passed]
    names = {o.script.name for o in outcomes}
    new = [o.script.name for o in failed if o.script.name not in known]
    fixed = [o.script.name for o in outcomes if o.passed and o.script.name in known]
    rate = (len(outcomes) - len(failed)) / max(1, len(outcomes))
    lines = [
        "# Conversations nobody scripted",
        "",
        f"{len(outcomes)} conversations, {len(outcomes) - len(failed)} passed, "
        f"{len(failed)} failed: pass rate {rate:.1%} (required {MIN_PASS_RATE:.0%}); "
        f"{seconds:.0f} s.",
        "",
        f"- failing and not in known_failures.yml: {', '.join(new) or 'none'}",
        f"- in known_failures.yml but passing now: {', '.join(fixed) or 'none'}",
        f"- in known_failures.yml but no such conversation: "
        f"{', '.join(sorted(set(known) - names)) or 'none'}",
        "",
        "## Failures",
        "",
    ]
    for outcome in failed:
        lines += describe(outcome, known)
    if os.environ.get("CONVERSATIONS_REPORT") == "all":  # to review what passes, too
        lines += ["## Passed", ""]
        for outcome in outcomes:
            lines += describe(outcome, known) if outcome.passed else []
    return "\n".join(lines)


def test_unscripted_conversations(stack: RunningStack, capsys: pytest.CaptureFixture[str]) -> None:
    aliases = load_aliases()
    scripts = selected(load_scripts(aliases))
    known = load_known_failures()
    backend = Backend(stack)
    started = time.monotonic()
    try:
        outcomes = run_all(scripts, stack, backend, aliases)
    finally:
        backend.reset()  # leave the demo data as seeded for the tests after this one
        backend.close()
    if len(scripts) < len(load_scripts(aliases)):  # a subset: only its own entries count
        known = {k: v for k, v in known.items() if k in {s.name for s in scripts}}
    report = build_report(outcomes, known, time.monotonic() - started)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report, encoding="utf-8")
    with capsys.disabled():
        print("\n" + report)
    failed = {o.script.name for o in outcomes if not o.passed}
    passed = len(outcomes) - len(failed)
    assert not failed - set(known), f"new failures: {sorted(failed - set(known))}"
    assert not set(known) - failed, f"listed but not failing: {sorted(set(known) - failed)}"
    assert passed / max(1, len(outcomes)) >= MIN_PASS_RATE, (
        f"pass rate {passed}/{len(outcomes)} is below {MIN_PASS_RATE:.0%}; see {REPORT}"
    )
