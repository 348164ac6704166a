"""What every channel does to a message first (extensions/inbound.py), the REST channel's
checks (extensions/rest.py), the identity a verified webhook signs (extensions/identity.py)
and the scrubbing of log lines (extensions/redaction.py)."""

from __future__ import annotations

import json
import logging

import jwt
import pytest
from sanic import Sanic
from sanic.request import Request

from extensions import identity, inbound, redaction
from extensions.rest import GuardedRestInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", "hello"),
        ("  my order 123  ", "my order 123"),
        ("", inbound.EMPTY_MESSAGE),
        ("   \n\t ", inbound.EMPTY_MESSAGE),
        ("\x00\x01\x02", inbound.EMPTY_MESSAGE),
        (None, inbound.EMPTY_MESSAGE),
        (12, inbound.EMPTY_MESSAGE),
        ("a" * inbound.MAX_MESSAGE_CHARS, "a" * inbound.MAX_MESSAGE_CHARS),
        ("a" * (inbound.MAX_MESSAGE_CHARS + 1), inbound.TOO_LONG_MESSAGE),
        ("refund " * 800_000, inbound.TOO_LONG_MESSAGE),  # 5 MB
        ("bro\x00ken\x7f case", "bro ken  case"),
        ("\ud800 lone surrogate", "? lone surrogate"),
        ("línea\nnueva", "línea\nnueva"),
        ("<script>alert(1)</script> my earbuds are broken", "my earbuds are broken"),
        ("<b>urgent</b> refund", "urgent  refund"),
        ("<script>alert(1)</script>", inbound.EMPTY_MESSAGE),
        ("2 < 3 and 5 > 4", "2 < 3 and 5 > 4"),
    ],
)
def test_readable_text(text: object, expected: str) -> None:
    assert inbound.readable_text(text) == expected


def test_client_metadata_never_carries_verified_facts_and_stays_small() -> None:
    forged = {"chat_token": "t", "verified": {"channel": "telegram", "identity": "x"}, "lang": "en"}
    assert inbound.client_metadata(forged) == {"chat_token": "t", "lang": "en"}
    assert inbound.client_metadata("not a dict") == {}
    huge = {"chat_token": "t", "blob": "x" * 100_000}
    assert inbound.client_metadata(huge) == {"chat_token": "t"}


def test_an_update_is_handled_once() -> None:
    seen = inbound.SeenIds(max_size=3)
    assert seen.first_time("telegram:1") is True
    assert seen.first_time("telegram:1") is False
    for n in (2, 3, 4):
        assert seen.first_time(f"telegram:{n}")
    assert seen.first_time("telegram:1") is True  # forgotten: the oldest left the bound


def test_the_identity_names_the_account_and_expires() -> None:
    proof = identity.assert_identity("telegram", "12345", secret="s" * 40, now=1_000)
    claims = jwt.decode(
        proof,
        "s" * 40,
        algorithms=["HS256"],
        audience=identity.AUDIENCE,
        options={"verify_exp": False},
    )
    assert claims["sub"] == "telegram:12345"
    assert claims["exp"] - claims["iat"] == identity.TTL_SECONDS
    with pytest.raises(ValueError):
        identity.assert_identity("rest", "1", secret="s" * 40)
    with pytest.raises(ValueError):
        identity.assert_identity("telegram", "1", secret="")


# --- the REST channel --------------------------------------------------------------------------


def rest_request(body: object, headers: dict[str, str] | None = None) -> Request:
    app = Sanic.get_app("rest-test", force_create=True)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = Request(b"/webhooks/rest/webhook", headers or {}, "1.1", "POST", None, app)
    request.body = raw
    return request


@pytest.mark.parametrize(
    "body",
    [
        {"sender": "telegram:12345", "message": "hi"},  # a channel's conversation
        {"sender": "", "message": "hi"},
        {"sender": "a/b", "message": "hi"},
        {"sender": 12345, "message": "hi"},
        {"sender": "u1", "message": {"text": "hi"}},
        {"sender": "u1", "message": "hi", "metadata": ["x"]},
        ["not", "an", "object"],
        b"{not json",
    ],
)
def test_the_rest_channel_refuses_malformed_requests(body: object) -> None:
    answer = GuardedRestInput.parse(rest_request(body))
    assert not isinstance(answer, tuple)
    assert answer.status == 400
    assert answer.content_type == "application/problem+json"


def test_the_rest_channel_keeps_the_token_and_drops_what_only_a_webhook_may_say() -> None:
    body = {
        "sender": "web-1",
        "message": "",
        "input_channel": "telegram",
        "metadata": {"chat_token": "t", "verified": {"channel": "telegram"}},
    }
    assert GuardedRestInput.parse(rest_request(body)) == (
        "web-1",
        inbound.EMPTY_MESSAGE,
        {"chat_token": "t"},
    )
    assert GuardedRestInput.name() == "rest"  # never the body's input_channel


def test_in_production_the_rest_channel_needs_its_token() -> None:
    body = {"sender": "u", "message": "hi"}
    assert GuardedRestInput(production=False).authorised(rest_request(body))
    assert not GuardedRestInput(production=True).authorised(rest_request(body))
    guarded = GuardedRestInput(token="t" * 32, production=True)
    assert not guarded.authorised(rest_request(body, {"Authorization": "Bearer wrong"}))
    assert guarded.authorised(rest_request(body, {"Authorization": f"Bearer {'t' * 32}"}))


# --- log lines ---------------------------------------------------------------------------------


def test_log_records_lose_tokens_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "Zq8x" * 8
    monkeypatch.setenv("SOME_SERVICE_TOKEN", secret)
    token = jwt.encode({"sub": "alice"}, "k" * 32, algorithm="HS256")
    secrets = redaction.secret_values()
    record = logging.LogRecord(
        "x",
        logging.ERROR,
        __file__,
        1,
        "sent %s to %s with %d",
        (token, f"http://rasa/conversations/c/tracker?token={secret}&x=1", 3),
        None,
    )
    try:
        raise ValueError(f"Authorization: Bearer {secret}")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = logging.Formatter("%(message)s").format(redaction.scrub_record(record, secrets))
    assert token not in line and secret not in line
    assert "with 3" in line and line.count(redaction.REDACTED) >= 3
    bot = "/bot123456:AAEhBOweik6ad9r_QXMENQjcrGbqCeyeCeQ/getFile"
    assert redaction.redact(bot) == f"/bot{redaction.REDACTED}/getFile"
