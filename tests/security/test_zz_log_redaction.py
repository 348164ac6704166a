"""Finding 10: after the whole suite (this file runs last), no log of the stack holds a
chat token, a signed channel identity, a service token or any other secret value of the
stack's environment, a link code or a password; no stored conversation holds a token or a
signed identity; and the Rasa log holds no dump of a frame's local variables.

The suite put all of these through the stack: tokens in messages and headers, codes typed
in chats, passwords at the console, so a log that kept them would show them here. The first
test below adds a failure with a traceback: the action server stops while a signed-in buyer
and a linked Telegram user are talking, so Rasa logs the error with the conversation (and
its proofs) at hand.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path

import requests

from tests.security.conftest import (
    NEVER_LOGGED,
    RunningStack,
    TelegramUser,
    chat_token,
    log_text,
    new_sender,
    rest_post,
    stack_secret_values,
    var_dir,
)

JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}")
# A frame's variables, as structlog renders them: a JSON object, or rich's boxed table.
LOCALS = re.compile(r'"locals":\s*\{|╭─+ locals')


def logs(stack: RunningStack) -> dict[str, str]:
    return {p.name: p.read_text(errors="replace") for p in (var_dir(stack) / "log").glob("*.log")}


def found(value: str, text: str) -> bool:
    if value.isdigit():  # a link code: six digits standing alone
        return re.search(rf"(?<!\d){value}(?!\d)", text) is not None
    return value in text


def test_failures_are_logged_without_the_proofs_at_hand(
    stack: RunningStack, carla_on_telegram: TelegramUser
) -> None:
    """Two failures with tracebacks while a signed-in buyer is talking: the action server
    stops, and a response is rendered without its value (`{email}`), which Rasa logs as a
    structured exception (what once dumped every frame's locals, the chat token among them)."""
    rasa = log_text(stack, "rasa")
    before = rasa.count("Traceback") + rasa.count("interpolator")
    sender = new_sender("outage")
    body = {
        "sender": sender,
        "message": "how are my disputes going?",
        "metadata": {"chat_token": chat_token(stack, "carla")},
    }
    assert rest_post(stack, body).status_code == 200
    executed = requests.post(
        f"{stack.rasa_url}/conversations/{sender}/execute",
        params={"token": stack.env["RASA_API_TOKEN"]},
        json={"name": "utter_link_code_sent"},
        timeout=30,
    )
    assert executed.status_code == 200, executed.text
    stack.stack.stop_service("actions")
    try:
        assert rest_post(stack, body).status_code == 200
        assert (
            carla_on_telegram.post(carla_on_telegram.message(text="status of my disputes")) == 200
        )
    finally:
        stack.stack.start_service("actions")
    rasa = log_text(stack, "rasa")
    assert rasa.count("Traceback") + rasa.count("interpolator") >= before + 2, "nothing logged"


def test_no_log_holds_a_secret_a_token_a_code_or_a_password(stack: RunningStack) -> None:
    secrets = {*stack_secret_values(stack), *NEVER_LOGGED, "marta-demo-pass", "jordi-demo-pass"}
    assert len(stack_secret_values(stack)) >= 10, "no secrets to look for"
    leaks = []
    for name, text in logs(stack).items():
        leaks += [f"{name}: JWT {m[:24]}..." for m in JWT.findall(text)]
        for value in secrets:
            if found(value, text):
                line = next(x for x in text.splitlines() if found(value, x))
                leaks.append(f"{name}: {value[:6]}... in {line[:160]!r}")
    assert not leaks, "\n".join(leaks)


def test_the_rasa_log_holds_no_frame_locals(stack: RunningStack) -> None:
    text = logs(stack).get("rasa.log", "")
    assert text, "no Rasa log"
    dumps = [line for line in text.splitlines() if LOCALS.search(line)]
    assert not dumps, "\n".join(dumps[:10])


def test_the_stack_logs_where_this_test_looks(stack: RunningStack) -> None:
    names = {p.name for p in Path(var_dir(stack), "log").glob("*.log")}
    assert {"rasa.log", "actions.log", "backend.log", "web.log", "console.log"} <= names


def test_no_stored_conversation_holds_a_token_or_a_signed_identity(stack: RunningStack) -> None:
    """The proofs serve the turn that carried them and are never written with the
    conversation: not in a message's metadata, not in its parse data, not in the
    `session_started_metadata` slot Rasa fills from a session's first message."""
    proofs = {value for value in NEVER_LOGGED if not value.isdigit()}  # codes are typed text
    assert proofs, "no proofs to look for"
    path = Path(stack.env["RASA_TRACKER_DB"])
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        rows = [str(data) for (data,) in db.execute("SELECT data FROM events")]
    assert len(rows) > 100, "the suite's conversations are not where this test looks"
    leaks = [row[:200] for row in rows if JWT.search(row) or any(p in row for p in proofs)]
    assert not leaks, f"{len(leaks)} stored events hold a proof, e.g. {leaks[:3]}"
