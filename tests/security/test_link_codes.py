"""Finding 5: guessing link codes from many Telegram accounts.

Codes asked for one victim's e-mail are limited per address (an hour), per buyer (a day)
and for all chats together (an hour), whichever Telegram account asks; each code allows a
few guesses; so guesses at one buyer stay at a few dozen a day. The victim is mailed every
code and told of every link. Time passes by ageing the stored codes, as the backend's
clock would see them after two hours.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tests.e2e.fakes import FakePlatforms
from tests.security.conftest import RunningStack, TelegramUser, link, remember

VICTIM, NAME = "bruno@example.com", "Bruno"
SENT, LIMITED = "on its way", "Too many codes"
WRONG, USED_UP = "doesn't match", "can't be used any more"
MAX_GUESSES_PER_DAY = 30  # 6 codes a day, 5 tries each


@contextmanager
def database(stack: RunningStack) -> Iterator[Session]:
    from dispute_backend.db import make_engine

    engine = make_engine(stack.env["DATABASE_URL"])
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def mails_to(stack: RunningStack, email: str) -> list[dict[str, str]]:
    found = []
    for path in sorted(Path(stack.env["OUTBOX_DIR"]).glob("*.json")):
        mail = json.loads(path.read_text())
        if mail["to"] == email:
            found.append(mail)
    return found


def code_mails(stack: RunningStack) -> list[str]:
    return [m["body"] for m in mails_to(stack, VICTIM) if "Your code" in m["body"]]


def guesses_at_victim(stack: RunningStack) -> int:
    from dispute_backend.models import LinkCode

    with database(stack) as session:
        stmt = select(func.coalesce(func.sum(LinkCode.attempts), 0)).where(
            LinkCode.buyer_id == "bruno"
        )
        return int(session.scalar(stmt) or 0)


def two_hours_pass(stack: RunningStack) -> None:
    from dispute_backend.models import LinkCode

    with database(stack) as session:
        for code in session.scalars(select(LinkCode)):
            code.created_at -= timedelta(hours=2)
        session.commit()


def attack(stack: RunningStack, fake: FakePlatforms, chats: range) -> tuple[int, int]:
    """Each chat asks a code for the victim's address and, given one, guesses until it is
    used up; (codes granted, wrong guesses answered)."""
    granted = wrong = 0
    real = set()
    for body in code_mails(stack):
        real.update(w for w in body.split() if w.isdigit() and len(w) == 6)
    for chat in chats:
        user = TelegramUser(stack, fake, chat)
        assert "e-mail address" in user.say("link my account")
        answer = user.say(VICTIM)
        if LIMITED in answer:
            continue
        assert SENT in answer, answer
        granted += 1
        for _ in range(6):
            guess = f"{secrets.randbelow(1_000_000):06d}"
            while guess in real:
                guess = f"{secrets.randbelow(1_000_000):06d}"
            answer = user.say(guess)
            if WRONG not in answer:
                assert USED_UP in answer, answer
                break
            wrong += 1
    return granted, wrong


def test_codes_and_guesses_at_one_buyer_are_limited_whichever_chats_ask(
    stack: RunningStack, platforms: FakePlatforms
) -> None:
    # the victim links their own chat: it works, and they are told
    link(TelegramUser(stack, platforms, 74000), stack, VICTIM, NAME)
    notices = [m for m in mails_to(stack, VICTIM) if "was linked" in m["subject"]]
    assert len(notices) == 1 and "Telegram" in notices[0]["body"]
    # an hour: two more codes for this address (three an hour), whichever chats ask
    granted, wrong = attack(stack, platforms, range(74101, 74105))
    assert (granted, wrong) == (2, 8)  # 4 wrong guesses on each, the 5th used it up
    assert guesses_at_victim(stack) == 1 + 10
    # later that day: three more codes, then the buyer's six a day are spent
    two_hours_pass(stack)
    granted, _ = attack(stack, platforms, range(74201, 74205))
    assert granted == 3
    two_hours_pass(stack)
    granted, _ = attack(stack, platforms, range(74301, 74303))
    assert granted == 2  # answered the same as before, but no code goes to the buyer
    assert len(code_mails(stack)) == 6
    assert guesses_at_victim(stack) <= MAX_GUESSES_PER_DAY
    for body in code_mails(stack):  # the codes the suite saw must never reach a log
        remember(*(w for w in body.split() if w.isdigit() and len(w) == 6))


def test_codes_for_all_chats_together_are_limited(
    stack: RunningStack, platforms: FakePlatforms
) -> None:
    """Past LINK_CODES_PER_HOUR_TOTAL codes in the last hour (others' flood, stored
    directly), no chat gets a code for any address; and they do again once it is over."""
    from dispute_backend.models import ChannelAccount, LinkCode

    now = datetime.now(UTC)
    with database(stack) as session:
        account = ChannelAccount(channel="telegram", external_id="1", created_at=now)
        session.add(account)
        session.flush()
        session.add_all(
            LinkCode(
                channel_account_id=account.id,
                buyer_id=None,
                code_hash="0",
                attempts=0,
                created_at=now,
                expires_at=now,
                email_digest=f"flood{i}",
            )
            for i in range(500)
        )
        session.commit()
        flood = account.id
    try:
        user = TelegramUser(stack, platforms, 74401)
        assert "e-mail address" in user.say("link my account")
        assert LIMITED in user.say("nobody-1@example.org")
    finally:
        with database(stack) as session:
            session.execute(delete(LinkCode).where(LinkCode.channel_account_id == flood))
            session.commit()
    assert "e-mail address" in user.say("link my account")
    assert SENT in user.say("nobody-2@example.org")
