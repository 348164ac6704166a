"""Finding 1: nobody but the linked Telegram chat itself acts for carla.

A Telegram account is linked to carla through the real flow first. Then an outsider names
that account in every way a client can write: the REST body's `sender` and
`input_channel`, a `telegram:` conversation id, a `verified` metadata block holding a
correctly signed identity (the strongest copy there is), the same identity as a chat
token, a socket.io session named after the Telegram conversation, and headers sent to the
backend directly. None of it reveals or changes carla's disputes; the linked chat itself
still sees them.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import requests

from tests.security.conftest import (
    CARLA_DISPUTES_WORDS,
    CARLA_TELEGRAM,
    RunningStack,
    SocketIoClient,
    TelegramUser,
    chat_token,
    disputes_of,
    new_sender,
    remember,
    rest_post,
    texts,
    user_turns,
)

ACCOUNT = f"telegram:{CARLA_TELEGRAM}"


def signed_identity(stack: RunningStack, account: str = ACCOUNT) -> str:
    """A channel identity signed with the stack's real secret, as if copied from a log."""
    now = int(time.time())
    claims = {
        "sub": account,
        "aud": "dispute-backend:channel-identity",
        "iat": now,
        "exp": now + 600,
    }
    token = jwt.encode(claims, stack.env["CHANNEL_IDENTITY_SECRET"], algorithm="HS256")
    remember(token)
    return token


def reveals(answer: str, ids: list[str]) -> list[str]:
    return [w for w in [*ids, *CARLA_DISPUTES_WORDS] if w in answer]


def test_rest_requests_naming_the_linked_telegram_account_reveal_and_change_nothing(
    stack: RunningStack, carla_on_telegram: TelegramUser
) -> None:
    before = disputes_of(stack, "carla")
    ids = [d["id"] for d in before]
    assert len(ids) == 2
    turns_before = len(user_turns(stack, ACCOUNT))
    verified = {"channel": "telegram", "identity": signed_identity(stack), "update_id": 1}
    bodies: list[dict[str, Any]] = [
        {"sender": str(CARLA_TELEGRAM), "input_channel": "telegram"},
        {"sender": str(CARLA_TELEGRAM), "metadata": {"verified": verified}},
        {"sender": new_sender("copy"), "metadata": {"verified": verified}},
        {"sender": new_sender("tok"), "metadata": {"chat_token": verified["identity"]}},
        {
            "sender": new_sender("nest"),
            "metadata": {"verified": verified, "customData": {"verified": verified}},
        },
    ]
    for body in bodies:
        for text in ("how are my disputes going?", "cancel my dispute", "yes"):
            answer = rest_post(stack, {**body, "message": text})
            assert answer.status_code == 200, answer.text
            leaked = reveals(answer.text, ids)
            assert not leaked, f"{body} / {text!r} revealed {leaked}: {answer.text}"
    # the REST channel never writes to the Telegram conversation
    for sender in (ACCOUNT, f"{ACCOUNT}/", "telegram:" + str(CARLA_TELEGRAM) + " "):
        refused = rest_post(stack, {"sender": sender, "message": "how are my disputes going?"})
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert len(user_turns(stack, ACCOUNT)) == turns_before
    assert disputes_of(stack, "carla") == before
    # the linked chat itself still sees both disputes
    answer = carla_on_telegram.say("how are my disputes going?")
    assert all(i in answer for i in ids), answer


def test_socketio_clients_cannot_join_or_speak_for_the_telegram_conversation(
    stack: RunningStack, carla_on_telegram: TelegramUser
) -> None:
    ids = [d["id"] for d in disputes_of(stack, "carla")]
    turns_before = len(user_turns(stack, ACCOUNT))
    verified = {"channel": "telegram", "identity": signed_identity(stack)}
    metadata = {"verified": verified, "chat_token": verified["identity"]}
    client = SocketIoClient(stack, origin=stack.web_url)
    try:
        given = client.session(ACCOUNT)
        assert given != ACCOUNT and len(given) == 32, given
        for session_id in (given, ACCOUNT):  # a message naming another conversation
            replies = client.say(session_id, "how are my disputes going?", metadata)
            assert replies and not reveals(texts(replies), ids), replies
    finally:
        client.close()
    assert len(user_turns(stack, ACCOUNT)) == turns_before
    assert all(i in carla_on_telegram.say("status of my disputes") for i in ids)


def test_the_backend_takes_no_header_as_a_buyer_without_the_assistant_token(
    stack: RunningStack, carla_on_telegram: TelegramUser
) -> None:
    url = f"{stack.backend_url}/api/v1/disputes"
    identity = signed_identity(stack)
    attempts = [
        {"X-Channel-Account": ACCOUNT},
        {"X-Channel-Account": ACCOUNT, "X-Conversation-Id": ACCOUNT},
        {"X-Channel-Identity": identity, "X-Conversation-Id": ACCOUNT},
        {
            "Authorization": "Bearer guessed",
            "X-Channel-Identity": identity,
            "X-Conversation-Id": ACCOUNT,
        },
        {"Authorization": f"Bearer {identity}", "X-Conversation-Id": ACCOUNT},
        {"X-Buyer-Token": identity, "X-Conversation-Id": ACCOUNT},
    ]
    for headers in attempts:
        answer = requests.get(url, headers=headers, timeout=5)
        assert answer.status_code == 401, (headers, answer.status_code, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    # A channel identity never counts for the web page's service, nor in another conversation.
    storefront = {"Authorization": f"Bearer {stack.env['STOREFRONT_SERVICE_TOKEN']}"}
    for headers in (
        {"X-Channel-Identity": identity, "X-Conversation-Id": ACCOUNT},
        {"X-Channel-Account": ACCOUNT},
    ):
        answer = requests.get(url, headers={**storefront, **headers}, timeout=5)
        assert answer.status_code == 401, (headers, answer.status_code, answer.text)
    assistant = {"Authorization": f"Bearer {stack.env['ASSISTANT_SERVICE_TOKEN']}"}
    elsewhere = {**assistant, "X-Channel-Identity": identity, "X-Conversation-Id": "telegram:1"}
    assert requests.get(url, headers=elsewhere, timeout=5).status_code == 401
    # The legitimate caller, the action server with its token and the verified identity:
    legit = {**assistant, "X-Channel-Identity": identity, "X-Conversation-Id": ACCOUNT}
    answer = requests.get(url, headers=legit, timeout=5)
    assert answer.status_code == 200
    assert {d["id"] for d in answer.json()} == {d["id"] for d in disputes_of(stack, "carla")}


def test_rest_senders_that_only_look_like_plain_ids_are_refused(stack: RunningStack) -> None:
    """Look-alikes of the Telegram conversation (a full-width colon, a right-to-left
    override, a zero-width space) and ids that cannot travel in an HTTP header (non-ASCII,
    a trailing newline) would reach the backend as `X-Conversation-Id`: the action then
    failed on the header and the buyer got an empty answer, or an operator saw a ticket
    from "telegram:71001". Refused with 400 instead."""
    token = chat_token(stack, "carla")
    look_alikes = [
        f"telegram\uff1a{CARLA_TELEGRAM}",
        f"\u202e{CARLA_TELEGRAM}:margelet",
        f"telegram\u200b{CARLA_TELEGRAM}",
        "会话-1",
        "café-1",
        f"{CARLA_TELEGRAM}\n",
        "web\nX-Injected: 1",
    ]
    for sender in look_alikes:
        body = {
            "sender": sender,
            "message": "how are my disputes going?",
            "metadata": {"chat_token": token},
        }
        answer = rest_post(stack, body)
        assert answer.status_code == 400, (sender, answer.status_code, answer.text[:200])
        assert answer.headers["content-type"].startswith("application/problem+json")
    ids = [d["id"] for d in disputes_of(stack, "carla")]
    body = {
        "sender": new_sender("plain"),
        "message": "how are my disputes going?",
        "metadata": {"chat_token": token},
    }
    answer = rest_post(stack, body)
    assert all(i in answer.text for i in ids), answer.text
