"""Linking a messaging-channel user (Telegram, Messenger) to a marketplace buyer.

The user types the e-mail of their marketplace account; a one-time code goes to that e-mail
(in development, to a file in the outbox folder); the user types the code back in the chat.
Asking for a code answers the same whether or not the e-mail belongs to a buyer: a code row
is stored either way, and one for an unknown e-mail can never match. A code expires and
allows a few attempts. Guessing is limited from every side (docs/security.md): codes per
chat and per e-mail address an hour, codes mailed to one buyer a day (silently: the answer
must not tell a buyer's address from an unknown one), and all codes an hour. Every new link
is told to the buyer by e-mail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from .. import errors
from ..models import Buyer, ChannelAccount, LinkCode

CHANNELS = frozenset({"telegram", "facebook"})
_ACCOUNT = re.compile(r"^(?P<channel>[a-z]{2,40}):(?P<external_id>[A-Za-z0-9_.\-]{1,120})$")


@dataclass(frozen=True)
class LinkSettings:
    secret: str  # keys the code and e-mail hashes
    ttl_seconds: int = 600
    max_attempts: int = 5
    codes_per_hour: int = 5  # per chat
    codes_per_email_per_hour: int = 3
    codes_per_buyer_per_day: int = 6
    codes_per_hour_total: int = 500


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    subject: str
    body: str


@dataclass(frozen=True)
class VerifyResult:
    """`error` is set when the code did not link; the attempt is recorded either way."""

    account: ChannelAccount
    buyer: Buyer | None
    error: errors.DomainError | None
    attempts_left: int


def parse_account(value: str) -> tuple[str, str]:
    match = _ACCOUNT.match(value.strip())
    if match is None or match["channel"] not in CHANNELS:
        raise errors.ChannelAccountInvalid(
            "X-Channel-Account must read <channel>:<user id>, channel one of "
            + ", ".join(sorted(CHANNELS))
        )
    return match["channel"], match["external_id"]


def find_account(session: Session, *, channel: str, external_id: str) -> ChannelAccount | None:
    stmt = select(ChannelAccount).where(
        ChannelAccount.channel == channel, ChannelAccount.external_id == external_id
    )
    return session.scalars(stmt).one_or_none()


def linked_buyer_id(session: Session, *, channel: str, external_id: str) -> str:
    """The buyer a channel account acts for; ChannelAccountNotLinked otherwise."""
    account = find_account(session, channel=channel, external_id=external_id)
    if account is None or account.buyer_id is None:
        raise errors.ChannelAccountNotLinked(
            f"{channel}:{external_id} is not linked to a marketplace account."
        )
    return account.buyer_id


def ensure_account(
    session: Session, *, channel: str, external_id: str, now: datetime
) -> ChannelAccount:
    account = find_account(session, channel=channel, external_id=external_id)
    if account is None:
        account = ChannelAccount(channel=channel, external_id=external_id, created_at=now)
        session.add(account)
        session.flush()
    return account


def code_hash(code: str, *, account_id: int, secret: str) -> str:
    message = f"{account_id}:{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def request_code(
    session: Session,
    *,
    channel: str,
    external_id: str,
    email: str,
    now: datetime,
    ls: LinkSettings,
) -> OutgoingMail | None:
    """Store a new code for the account; the mail to send, or None for an unknown e-mail.

    Earlier unused codes of the account stop working. The caller answers the same either way.
    """
    account = ensure_account(session, channel=channel, external_id=external_id, now=now)
    normalised = email.strip().lower()
    digest = email_digest(normalised, secret=ls.secret)
    _check_rates(session, account_id=account.id, digest=digest, now=now, ls=ls)
    for old in _open_codes(session, account_id=account.id):
        old.used_at = now
    buyer = session.scalars(select(Buyer).where(func.lower(Buyer.email) == normalised)).first()
    if (
        buyer is not None
        and _codes_since(session, LinkCode.buyer_id == buyer.id, since=now - timedelta(days=1))
        >= ls.codes_per_buyer_per_day
    ):
        buyer = None  # enough mail for one buyer today: answer as for an unknown address
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(
        LinkCode(
            channel_account_id=account.id,
            buyer_id=buyer.id if buyer is not None else None,
            code_hash=code_hash(code, account_id=account.id, secret=ls.secret),
            attempts=0,
            created_at=now,
            expires_at=now + timedelta(seconds=ls.ttl_seconds),
            email_digest=digest,
        )
    )
    session.flush()
    if buyer is None:
        return None
    minutes = max(1, ls.ttl_seconds // 60)
    body = (
        f"Hello {buyer.name},\n\n"
        f"Your code to link your {channel} chat with your marketplace account is: {code}\n\n"
        f"It expires in {minutes} minutes. If you did not ask for it, ignore this message.\n"
    )
    return OutgoingMail(to=buyer.email, subject="Your marketplace link code", body=body)


def email_digest(normalised_email: str, *, secret: str) -> str:
    """A keyed hash of an e-mail address: codes can be counted per address without keeping
    the addresses people typed (most of them may not be buyers')."""
    message = f"link-email:{normalised_email}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _codes_since(session: Session, *where: ColumnElement[bool], since: datetime) -> int:
    stmt = select(func.count()).select_from(LinkCode).where(LinkCode.created_at >= since, *where)
    return int(session.scalar(stmt) or 0)


def _check_rates(
    session: Session, *, account_id: int, digest: str, now: datetime, ls: LinkSettings
) -> None:
    """The limits that apply the same whether or not the address is a buyer's."""
    hour_ago = now - timedelta(hours=1)
    if _codes_since(session, since=hour_ago) >= ls.codes_per_hour_total:
        raise errors.LinkCodeRateLimited("Too many codes asked for; try again later.")
    if (
        _codes_since(session, LinkCode.channel_account_id == account_id, since=hour_ago)
        >= ls.codes_per_hour
    ):
        raise errors.LinkCodeRateLimited(
            "Too many codes asked for from this chat; try again in an hour."
        )
    if (
        _codes_since(session, LinkCode.email_digest == digest, since=hour_ago)
        >= ls.codes_per_email_per_hour
    ):
        raise errors.LinkCodeRateLimited(
            "Too many codes asked for this address; try again in an hour."
        )


def link_notice(buyer: Buyer, *, channel: str, now: datetime) -> OutgoingMail:
    """The mail telling a buyer a chat was just linked to their account."""
    names = {"telegram": "Telegram", "facebook": "Facebook Messenger"}
    where = names.get(channel, channel)
    body = (
        f"Hello {buyer.name},\n\n"
        f"A {where} chat was linked to your marketplace account on "
        f"{now:%d %b %Y at %H:%M} UTC. It can now see your orders and disputes and act on "
        f"them.\n\nIf this was not you, contact customer service at once and the link will be "
        f"removed. Never share the codes we send you.\n"
    )
    return OutgoingMail(
        to=buyer.email, subject=f"A {where} chat was linked to your account", body=body
    )


def _open_codes(session: Session, *, account_id: int) -> list[LinkCode]:
    stmt = select(LinkCode).where(
        LinkCode.channel_account_id == account_id, LinkCode.used_at.is_(None)
    )
    return list(session.scalars(stmt))


def verify_code(
    session: Session,
    *,
    channel: str,
    external_id: str,
    code: str,
    now: datetime,
    ls: LinkSettings,
) -> VerifyResult:
    """Check the code against the account's latest open code; link on a match.

    Never raises for a wrong code: the caller commits the counted attempt, then refuses.
    """
    account = ensure_account(session, channel=channel, external_id=external_id, now=now)
    stmt = (
        select(LinkCode)
        .where(LinkCode.channel_account_id == account.id, LinkCode.used_at.is_(None))
        .order_by(LinkCode.created_at.desc(), LinkCode.id.desc())
        .limit(1)
    )
    pending = session.scalars(stmt).first()
    if pending is None or pending.expires_at <= now:
        return VerifyResult(account, None, errors.LinkCodeExpired("Ask for a new code."), 0)
    if pending.attempts >= ls.max_attempts:
        return VerifyResult(
            account, None, errors.LinkCodeAttemptsExceeded("Ask for a new code."), 0
        )
    pending.attempts += 1
    left = ls.max_attempts - pending.attempts
    typed = "".join(ch for ch in code if ch.isdigit())
    expected = code_hash(typed, account_id=account.id, secret=ls.secret)
    if pending.buyer_id is None or not hmac.compare_digest(expected, pending.code_hash):
        if left <= 0:
            pending.used_at = now
            return VerifyResult(
                account, None, errors.LinkCodeAttemptsExceeded("Ask for a new code."), 0
            )
        return VerifyResult(
            account, None, errors.LinkCodeWrong("Wrong code.", attempts_left=left), left
        )
    pending.used_at = now
    account.buyer_id = pending.buyer_id
    account.linked_at = now
    buyer = session.get(Buyer, pending.buyer_id)
    return VerifyResult(account, buyer, None, left)


def unlink(session: Session, *, channel: str, external_id: str) -> bool:
    """Forget the account's buyer; True when it was linked."""
    account = find_account(session, channel=channel, external_id=external_id)
    if account is None or account.buyer_id is None:
        return False
    account.buyer_id = None
    account.linked_at = None
    for old in _open_codes(session, account_id=account.id):
        old.used_at = old.created_at
    return True


def write_to_outbox(mail: OutgoingMail, *, directory: Path, now: datetime) -> Path:
    """The development mailer: one JSON file per message, named so `ls` sorts by time."""
    directory.mkdir(parents=True, exist_ok=True)
    # Named by the wall clock in nanoseconds (not `now`, which tests freeze), so names sort.
    name = f"{time.time_ns()}-{secrets.token_hex(3)}.json"
    path = directory / name
    payload = {
        "to": mail.to,
        "subject": mail.subject,
        "body": mail.body,
        "sent_at": now.isoformat(),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path


def read_outbox(directory: Path, *, to: str | None = None, last: int = 5) -> list[dict[str, str]]:
    """The latest messages in the outbox, oldest first (optionally only those to `to`)."""
    if not directory.is_dir():
        return []
    messages = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if to is None or str(data.get("to", "")).lower() == to.lower():
            messages.append({k: str(v) for k, v in data.items()})
    return messages[-last:] if last > 0 else messages
