"""Account linking for messaging channels: codes by e-mail (the dev outbox), attempts, expiry,
rate limits, no hint of whether an e-mail exists, unlink; and the assistant acting for a linked
channel account through the identity the Rasa server signed (X-Channel-Identity)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import factories as f
from dispute_backend.clock import FrozenClock
from dispute_backend.services.accounts import read_outbox
from dispute_backend.settings import Settings

P = "https://disputes.example/problems/"
TG = "telegram:12345"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    settings.outbox_dir = tmp_path / "outbox"
    return settings


@pytest.fixture
def world(session: Session) -> str:
    f.seller(session)
    f.buyer(session, "alice")
    f.buyer(session, "bob")
    order = f.order(session, buyer_id="alice")
    session.commit()
    return order.id


def channel(account: str = TG, now: datetime = f.NOW) -> dict[str, str]:
    return f.channel_headers(account, now=now)


def ask_code(client: TestClient, email: str, account: str = TG) -> dict[str, object]:
    r = client.post("/api/v1/accounts/link-codes", json={"email": email}, headers=channel(account))
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


def mailed_code(settings: Settings, email: str) -> str:
    mails = read_outbox(settings.outbox_dir, to=email, last=1)
    assert mails, f"no mail to {email}"
    match = re.search(r"\b(\d{6})\b", mails[-1]["body"])
    assert match
    return match.group(1)


def link(client: TestClient, code: str, account: str = TG) -> tuple[int, dict[str, object]]:
    r = client.post("/api/v1/accounts/link", json={"code": code}, headers=channel(account))
    return r.status_code, r.json()


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_link_with_the_mailed_code_then_act_as_the_buyer(
    client: TestClient, settings: Settings, world: str
) -> None:
    assert client.get("/api/v1/orders", headers=channel()).json()["type"] == (
        P + "channel-account-not-linked"
    )
    ask_code(client, "Alice@Example.com")
    code = mailed_code(settings, "alice@example.com")
    status, body = link(client, code)
    assert status == 201, body
    assert body == {
        "channel": "telegram",
        "external_id": "12345",
        "buyer_id": "alice",
        "buyer_name": "Alice",
    }
    orders = client.get("/api/v1/orders", headers=channel())
    assert orders.status_code == 200
    assert [o["id"] for o in orders.json()] == [world]
    assert client.get("/api/v1/accounts/link", headers=channel()).json()["buyer_id"] == "alice"
    # the code is single-use
    assert link(client, code)[1]["type"] == P + "link-code-expired"


def test_unknown_email_gets_the_same_answer_and_no_mail(
    client: TestClient, settings: Settings, world: str
) -> None:
    known = ask_code(client, "alice@example.com", "telegram:1")
    unknown = ask_code(client, "nobody@example.com", "telegram:2")
    assert known == unknown == {"sent": True, "expires_in_seconds": 600}
    assert read_outbox(settings.outbox_dir, to="nobody@example.com") == []
    # no code can link the unknown one, and the refusal looks like any wrong code
    status, body = link(client, "000000", "telegram:2")
    assert status == 422
    assert body["type"] == P + "link-code-wrong"
    assert body["attempts_left"] == 4


def test_five_wrong_codes_then_a_new_code_is_needed(
    client: TestClient, settings: Settings, world: str
) -> None:
    ask_code(client, "alice@example.com")
    code = mailed_code(settings, "alice@example.com")
    answers = [link(client, wrong(code))[1] for _ in range(5)]
    assert [a.get("attempts_left") for a in answers[:4]] == [4, 3, 2, 1]
    assert answers[4]["type"] == P + "link-code-attempts-exceeded"
    assert link(client, code)[1]["type"] == P + "link-code-expired"  # the right one is too late
    ask_code(client, "alice@example.com")
    assert link(client, mailed_code(settings, "alice@example.com"))[0] == 201


def test_a_code_expires_after_ten_minutes(
    client: TestClient, settings: Settings, clock: FrozenClock, world: str
) -> None:
    ask_code(client, "alice@example.com")
    code = mailed_code(settings, "alice@example.com")
    clock.advance(timedelta(minutes=10, seconds=1))
    assert link(client, code)[1]["type"] == P + "link-code-expired"


def refused(client: TestClient, email: str, account: str = TG, now: datetime = f.NOW) -> bool:
    r = client.post(
        "/api/v1/accounts/link-codes", json={"email": email}, headers=channel(account, now)
    )
    if r.status_code == 429:
        assert r.json()["type"] == P + "link-code-rate-limited"
        return True
    assert r.status_code == 202, r.text
    return False


def test_codes_are_rate_limited_per_channel_account(client: TestClient, world: str) -> None:
    for i in range(5):
        ask_code(client, f"someone{i}@example.com")
    assert refused(client, "bob@example.com")
    ask_code(client, "bob@example.com", "facebook:999")  # another account is not affected


def test_codes_are_limited_per_address_across_chats(
    client: TestClient, settings: Settings, world: str
) -> None:
    """A new Telegram account each time does not buy more guesses at one buyer's code, nor
    more mail in their inbox: 3 codes an hour per address, whichever chats ask."""
    for i in range(3):
        ask_code(client, "alice@example.com", f"telegram:{100 + i}")
    assert refused(client, "Alice@example.com", "telegram:200")
    assert len(read_outbox(settings.outbox_dir, to="alice@example.com", last=0)) == 3
    # an unknown address is limited the same way: the answer never tells them apart
    for i in range(3):
        ask_code(client, "nobody@example.com", f"telegram:{300 + i}")
    assert refused(client, "nobody@example.com", "telegram:400")


def test_a_buyer_gets_at_most_six_codes_a_day_and_no_hint_after(
    client: TestClient, settings: Settings, clock: FrozenClock, world: str
) -> None:
    for hour in range(3):
        for i in range(3):
            assert not refused(client, "alice@example.com", f"telegram:{hour}{i}", clock.now())
        clock.advance(timedelta(hours=1, minutes=1))
    # 9 answered alike, but only 6 mails went out; a code past them can never match
    assert len(read_outbox(settings.outbox_dir, to="alice@example.com", last=0)) == 6
    assert not refused(client, "alice@example.com", "telegram:99", clock.now())
    r = client.post(
        "/api/v1/accounts/link",
        json={"code": "123456"},
        headers=channel("telegram:99", clock.now()),
    )
    assert (r.status_code, r.json()["type"]) == (422, P + "link-code-wrong")
    assert len(read_outbox(settings.outbox_dir, to="alice@example.com", last=0)) == 6


def test_all_codes_together_are_limited(client: TestClient, settings: Settings, world: str) -> None:
    settings.link_codes_per_hour_total = 4
    for i in range(4):
        ask_code(client, f"user{i}@example.com", f"telegram:{i}")
    assert refused(client, "user9@example.com", "telegram:9")


def test_the_buyer_is_told_by_mail_of_every_new_link(
    client: TestClient, settings: Settings, world: str
) -> None:
    ask_code(client, "alice@example.com")
    assert link(client, mailed_code(settings, "alice@example.com"))[0] == 201
    notice = read_outbox(settings.outbox_dir, to="alice@example.com", last=1)[-1]
    assert "Telegram chat was linked" in notice["subject"]
    assert "If this was not you" in notice["body"]


def test_a_new_code_replaces_the_previous_one(
    client: TestClient, settings: Settings, world: str
) -> None:
    ask_code(client, "alice@example.com")
    first = mailed_code(settings, "alice@example.com")
    ask_code(client, "alice@example.com")
    second = mailed_code(settings, "alice@example.com")
    if first != second:
        assert link(client, first)[0] == 422
    assert link(client, second)[0] == 201


def test_unlink(client: TestClient, settings: Settings, world: str) -> None:
    ask_code(client, "alice@example.com")
    link(client, mailed_code(settings, "alice@example.com"))
    assert client.delete("/api/v1/accounts/link", headers=channel()).status_code == 204
    assert client.get("/api/v1/orders", headers=channel()).status_code == 401
    assert client.delete("/api/v1/accounts/link", headers=channel()).status_code == 204


def test_only_the_assistant_may_use_a_channel_identity(
    client: TestClient, settings: Settings, world: str
) -> None:
    ask_code(client, "alice@example.com")
    link(client, mailed_code(settings, "alice@example.com"))
    storefront = {**channel(), "Authorization": f"Bearer {f.STOREFRONT_TOKEN}"}
    assert client.get("/api/v1/orders", headers=storefront).status_code == 401
    r = client.post(
        "/api/v1/accounts/link-codes", json={"email": "alice@example.com"}, headers=storefront
    )
    assert r.status_code == 401
    bad = client.get("/api/v1/orders", headers=channel("mastodon:1"))
    assert bad.status_code == 400
    assert bad.json()["type"] == P + "channel-account-invalid"


def test_naming_an_account_proves_nothing(
    client: TestClient, settings: Settings, world: str
) -> None:
    """A linked account's id in a header, an identity signed with another secret, an
    expired one, or one used in another conversation: nobody is identified."""
    ask_code(client, "alice@example.com")
    link(client, mailed_code(settings, "alice@example.com"))
    assert client.get("/api/v1/orders", headers=channel()).status_code == 200
    assistant = {"Authorization": f"Bearer {f.ASSISTANT_TOKEN}", "X-Conversation-Id": TG}
    attempts = {
        "account named": {**assistant, "X-Channel-Account": TG},
        "forged": f.channel_headers(TG, secret="x" * 43),
        "expired": f.channel_headers(TG, now=f.NOW - timedelta(minutes=16)),
        "other conversation": f.channel_headers(TG, conversation="telegram:999"),
        "web conversation": f.channel_headers(TG, conversation="0" * 32),
    }
    for what, headers in attempts.items():
        r = client.get("/api/v1/orders", headers=headers)
        assert r.status_code == 401, what
        assert r.json()["type"] in (P + "buyer-token-invalid", P + "channel-identity-invalid")


def test_the_chat_token_path_is_unchanged(
    client: TestClient, settings: Settings, world: str, session: Session
) -> None:
    headers = {**f.buyer_headers(settings, "bob", session), "X-Channel-Account": TG}
    assert client.get("/api/v1/me", headers=headers).json()["id"] == "bob"


def test_outbox_files_are_json(client: TestClient, settings: Settings, world: str) -> None:
    ask_code(client, "alice@example.com")
    [path] = list(settings.outbox_dir.glob("*.json"))
    mail = json.loads(path.read_text())
    assert mail["to"] == "alice@example.com"
    assert "expires in 10 minutes" in mail["body"]
