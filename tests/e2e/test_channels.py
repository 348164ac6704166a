"""Telegram and Messenger end to end: real webhook requests (valid and forged) to the running
Rasa server, the fake platforms recording what the bot sends, account linking with the code
from the dev outbox, a dispute opened, a photo attached as evidence, an operator's reply
delivered through Rasa's tracker events API (`output_channel=latest`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from itertools import count
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack
from tests.e2e.fakes import FakePlatforms

TELEGRAM_CHAT = 70001
MESSENGER_USER = "9100000000000001"
LATE_USER = "9100000000000004"
TELEGRAM_ORDER = "8900000000000001"
MESSENGER_ORDER = "8900000000000002"
MESSENGER_BUYER = "mia"
_ids = count(1000)


@pytest.fixture(scope="module")
def diego_orders(stack: RunningStack) -> None:
    """A fresh eligible order for diego, so this test shares no order with the others."""
    stack.add_order(TELEGRAM_ORDER, "diego")


@pytest.fixture(scope="module")
def messenger_buyer(stack: RunningStack) -> str:
    """A buyer of the Messenger test's own, with one order: whatever the other tests did
    (and in whatever order they ran), she has exactly the dispute this test opens."""
    stack.add_buyer(MESSENGER_BUYER)
    stack.add_order(MESSENGER_ORDER, MESSENGER_BUYER)
    return MESSENGER_BUYER


def outbox_code(stack: RunningStack, email: str) -> str:
    for path in sorted(Path(stack.env["OUTBOX_DIR"]).glob("*.json"), reverse=True):
        mail = json.loads(path.read_text())
        if mail["to"] == email:
            match = re.search(r"\b(\d{6})\b", mail["body"])
            assert match
            return match.group(1)
    raise AssertionError(f"no mail to {email}")


def rasa_log(stack: RunningStack) -> str:
    return (Path(stack.env["VAR_DIR"]) / "log" / "rasa.log").read_text(errors="replace")


def operator_says(stack: RunningStack, conversation: str, text: str) -> None:
    """What the console does to deliver an operator's reply."""
    response = requests.post(
        f"{stack.rasa_url}/conversations/{conversation}/tracker/events",
        params={
            "token": stack.env["RASA_API_TOKEN"],
            "execute_side_effects": "true",
            "output_channel": "latest",
        },
        json=[{"event": "bot", "text": text, "metadata": {"operator": "op-marta"}}],
        timeout=30,
    )
    assert response.status_code == 200, response.text


# --- Telegram ------------------------------------------------------------------------------


class TelegramUser:
    def __init__(self, stack: RunningStack, fake: FakePlatforms, chat_id: int) -> None:
        self.stack, self.fake, self.chat_id = stack, fake, chat_id
        self.url = f"{stack.rasa_url}/webhooks/telegram/webhook"
        self.secret = stack.env["TELEGRAM_SECRET_TOKEN"]

    def post(self, update: Any, secret: str | None = None, raw: bytes | None = None) -> int:
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": self.secret if secret is None else secret,
        }
        data = raw if raw is not None else json.dumps(update).encode()
        return requests.post(self.url, data=data, headers=headers, timeout=60).status_code

    def message(self, **fields: Any) -> dict[str, Any]:
        sender = {"id": self.chat_id, "is_bot": False, "first_name": "Diego"}
        return {
            "update_id": next(_ids),
            "message": {
                "message_id": next(_ids),
                "date": int(time.time()),
                "from": sender,
                "chat": {"id": self.chat_id, "type": "private", "first_name": "Diego"},
                **fields,
            },
        }

    def say(self, text: str) -> str:
        before = len(self.fake.sent_to_telegram(self.chat_id))
        assert self.post(self.message(text=text)) == 200
        sent = self.fake.sent_to_telegram(self.chat_id)[before:]
        assert sent, f"no answer to {text!r}"
        return "\n".join(str(m.get("text", "")) for m in sent)

    def click(self, data: str) -> str:
        before = len(self.fake.sent_to_telegram(self.chat_id))
        update = {
            "update_id": next(_ids),
            "callback_query": {
                "id": f"cb{next(_ids)}",
                "from": {"id": self.chat_id, "is_bot": False},
                "message": {"message_id": 1, "chat": {"id": self.chat_id, "type": "private"}},
                "data": data,
            },
        }
        assert self.post(update) == 200
        return "\n".join(
            str(m.get("text", "")) for m in self.fake.sent_to_telegram(self.chat_id)[before:]
        )


def test_telegram_refuses_forged_updates_and_acknowledges_malformed_ones(
    stack: RunningStack, platforms: FakePlatforms
) -> None:
    user = TelegramUser(stack, platforms, 70002)
    assert user.post(user.message(text="hi"), secret="") == 403
    assert user.post(user.message(text="hi"), secret="guessed") == 403
    assert platforms.sent_to_telegram(70002) == []
    assert user.post(None, raw=b"{not json") == 200
    assert user.post({"update_id": 1, "edited_channel_post": {"text": "x"}}) == 200
    assert user.post([1, 2, 3]) == 200
    log = rasa_log(stack)
    assert "telegram: malformed update (not JSON) acknowledged" in log
    assert "telegram: unsupported update 1 acknowledged" in log
    assert platforms.sent_to_telegram(70002) == []


def test_telegram_link_open_a_dispute_attach_a_photo_and_get_an_operator_reply(
    stack: RunningStack, platforms: FakePlatforms, diego_orders: None
) -> None:
    user = TelegramUser(stack, platforms, TELEGRAM_CHAT)
    assert "dispute assistant" in user.say("/start")
    # unlinked: general questions yes, order data no
    assert "link this chat" in user.say("how are my disputes going?")
    keyboard = platforms.sent_to_telegram(TELEGRAM_CHAT)[-1]["reply_markup"]["inline_keyboard"]
    assert keyboard == [[{"text": "Link my account", "callback_data": "/link_account"}]]
    assert "15 days" in user.say("how long do I have to open a dispute?")
    # link, with the button, a wrong code first
    assert "e-mail address" in user.click("/link_account")
    assert "on its way" in user.say("diego@example.com")
    assert [m for m, p in platforms.telegram if m == "answerCallbackQuery"]
    code = outbox_code(stack, "diego@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert "4 more" in user.say(wrong)
    assert "Done, Diego" in user.say(code)
    # open a dispute
    user.say("I want to open a dispute")
    assert "covered by buyer protection" in user.say(TELEGRAM_ORDER)
    assert "full refund or a partial refund" in user.say("it arrived broken")
    assert "send the item back" in user.say("full refund")
    assert "describe the problem" in user.say("no").lower()
    user.say("The fan blades are cracked and it makes a loud noise.")
    opened = user.say("yes")
    assert "is open for order" in opened, opened
    token = stack.chat_token("diego")
    [dispute] = [d for d in stack.buyer_get(token, "/disputes") if d["order_id"] == TELEGRAM_ORDER]
    # a photo: downloaded from the (fake) Bot API, uploaded to the dispute
    photo = [
        {"file_id": "small1", "width": 90, "height": 90},
        {"file_id": "big1", "width": 800, "height": 800},
    ]
    before = len(platforms.sent_to_telegram(TELEGRAM_CHAT))
    assert user.post(user.message(photo=photo, caption="the cracked blade")) == 200
    added = platforms.sent_to_telegram(TELEGRAM_CHAT)[before:]
    assert "added 1 file" in added[-1]["text"], added
    assert ("getFile", {"file_id": "big1"}) in platforms.telegram
    evidence = stack.buyer_get(token, f"/disputes/{dispute['id']}/evidence")
    assert [e["description"] for e in evidence] == ["the cracked blade"]
    # an operator's reply reaches the Telegram user
    operator_says(stack, f"telegram:{TELEGRAM_CHAT}", "Hi Diego, Marta here.")
    sent = platforms.wait_for(
        lambda: [
            m
            for m in platforms.sent_to_telegram(TELEGRAM_CHAT)
            if m.get("text") == "Hi Diego, Marta here."
        ],
        1,
    )
    assert sent
    # unlink: order data is gone again
    assert "no longer linked" in user.say("unlink my account")
    assert "link this chat" in user.say("how are my disputes going?")


# --- Messenger -----------------------------------------------------------------------------


class MessengerUser:
    def __init__(self, stack: RunningStack, fake: FakePlatforms, user_id: str) -> None:
        self.stack, self.fake, self.user_id = stack, fake, user_id
        self.url = f"{stack.rasa_url}/webhooks/facebook/webhook"
        self.secret = stack.env["FACEBOOK_APP_SECRET"].encode()

    def post(self, body: dict[str, Any], *, signature: str | None = None) -> int:
        raw = json.dumps(body).encode()
        sig = "sha256=" + hmac.new(self.secret, raw, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sig if signature is None else signature,
        }
        return requests.post(self.url, data=raw, headers=headers, timeout=60).status_code

    def event(
        self, message: dict[str, Any] | None = None, *, written: float | None = None, **extra: Any
    ) -> dict[str, Any]:
        """A messaging event; `written` is when the user wrote it (seconds since the epoch,
        now by default), Messenger's own timestamp of the message."""
        stamp = int((time.time() if written is None else written) * 1000)
        event: dict[str, Any] = {
            "sender": {"id": self.user_id},
            "recipient": {"id": "PAGE1"},
            "timestamp": stamp,
            **extra,
        }
        if message is not None:
            event["message"] = {"mid": f"m{next(_ids)}", **message}
        return event

    @staticmethod
    def delivery(*events: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "page",
            "entry": [
                {"id": "PAGE1", "time": int(time.time() * 1000), "messaging": [e]} for e in events
            ],
        }

    def texts(self, bodies: list[dict[str, Any]]) -> str:
        out = []
        for body in bodies:
            message = body["message"]
            payload = (message.get("attachment") or {}).get("payload") or {}
            out.append(str(message.get("text") or payload.get("text") or ""))
        return "\n".join(out)

    def say(self, text: str, *, written: float | None = None) -> str:
        before = len(self.fake.sent_to_messenger(self.user_id))
        assert self.post(self.delivery(self.event({"text": text}, written=written))) == 200
        sent = self.fake.sent_to_messenger(self.user_id)[before:]
        assert sent, f"no answer to {text!r}"
        return self.texts(sent)


def test_messenger_verification_and_signatures(
    stack: RunningStack, platforms: FakePlatforms
) -> None:
    url = f"{stack.rasa_url}/webhooks/facebook/webhook"
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": stack.env["FACEBOOK_VERIFY_TOKEN"],
        "hub.challenge": "1158201444",
    }
    answer = requests.get(url, params=good, timeout=10)
    assert (answer.status_code, answer.text) == (200, "1158201444")
    bad = {**good, "hub.verify_token": "guessed"}
    assert requests.get(url, params=bad, timeout=10).status_code == 403
    user = MessengerUser(stack, platforms, "9100000000000002")
    body = user.delivery(user.event({"text": "hi"}))
    assert user.post(body, signature="") == 403
    assert user.post(body, signature="sha256=" + "0" * 64) == 403
    sha1 = "sha1=" + hmac.new(user.secret, json.dumps(body).encode(), hashlib.sha1).hexdigest()
    assert user.post(body, signature=sha1) == 403  # the old SHA-1 header is not enough
    assert platforms.sent_to_messenger("9100000000000002") == []
    # a batch: two entries, each one message, both answered
    other = MessengerUser(stack, platforms, "9100000000000003")
    batch = user.delivery(user.event({"text": "hi"}), other.event({"text": "hello"}))
    assert user.post(batch) == 200
    assert platforms.sent_to_messenger("9100000000000002")
    assert platforms.sent_to_messenger("9100000000000003")


def test_messenger_link_open_a_dispute_attach_a_photo_and_get_an_operator_reply(
    stack: RunningStack, platforms: FakePlatforms, messenger_buyer: str
) -> None:
    user = MessengerUser(stack, platforms, MESSENGER_USER)
    assert "link this chat" in user.say("how are my disputes going?")
    template = platforms.sent_to_messenger(MESSENGER_USER)[-1]
    assert template["messaging_type"] == "RESPONSE"
    payload = template["message"]["attachment"]["payload"]
    assert payload["template_type"] == "button" and len(payload["buttons"]) <= 3
    assert payload["buttons"][0] == {
        "type": "postback",
        "title": "Link my account",
        "payload": "/link_account",
    }
    before = len(platforms.sent_to_messenger(MESSENGER_USER))
    postback = user.event(postback={"title": "Link my account", "payload": "/link_account"})
    assert user.post(user.delivery(postback)) == 200
    assert "e-mail address" in user.texts(platforms.sent_to_messenger(MESSENGER_USER)[before:])
    email = f"{messenger_buyer}@example.com"
    assert "on its way" in user.say(f"my email is {email}")
    assert "Done, Mia" in user.say(outbox_code(stack, email))
    user.say("open a dispute")
    assert "covered by buyer protection" in user.say(MESSENGER_ORDER)
    assert "full refund or a partial refund" in user.say("it arrived broken")
    for body in platforms.sent_to_messenger(MESSENGER_USER):
        for reply in body["message"].get("quick_replies") or []:
            assert len(reply["title"]) <= 20
        assert len(body["message"].get("quick_replies") or []) <= 13
    assert "send the item back" in user.say("full refund")
    user.say("no")
    user.say("The fan does not turn on at all, the motor is dead.")
    assert "is open for order" in user.say("yes")
    # a photo, with her one dispute in progress: attached to it without a question
    token = stack.chat_token(messenger_buyer)
    [dispute] = stack.buyer_get(token, "/disputes")
    assert dispute["order_id"] == MESSENGER_ORDER
    before = len(platforms.sent_to_messenger(MESSENGER_USER))
    image = {
        "attachments": [
            {"type": "image", "payload": {"url": f"{platforms.graph_url}/files/fan.jpg"}}
        ]
    }
    assert user.post(user.delivery(user.event(image))) == 200
    added = user.texts(platforms.sent_to_messenger(MESSENGER_USER)[before:])
    assert f"added 1 file(s) to dispute {dispute['id']}" in added
    assert "Which one" not in added
    assert len(stack.buyer_get(token, f"/disputes/{dispute['id']}/evidence")) == 1
    # an operator's reply inside the window (she just wrote) goes as a response
    operator_says(stack, f"facebook:{MESSENGER_USER}", "Marta here, looking at it.")
    sent = {b["message"].get("text"): b for b in platforms.sent_to_messenger(MESSENGER_USER)}
    assert sent["Marta here, looking at it."]["messaging_type"] == "RESPONSE"


def test_an_operator_reply_after_the_messaging_window_is_tagged_human_agent(
    stack: RunningStack, platforms: FakePlatforms
) -> None:
    """A user whose last message was written two days ago (Messenger retried the delivery
    late): the window runs from when they wrote, so a reply now needs the HUMAN_AGENT tag."""
    late = MessengerUser(stack, platforms, LATE_USER)
    answer = late.say("hello", written=time.time() - 2 * 86400)
    assert answer and platforms.sent_to_messenger(LATE_USER)[-1]["messaging_type"] == "RESPONSE"
    operator_says(stack, f"facebook:{LATE_USER}", "Marta here, sorry for the wait.")
    sent = {b["message"].get("text"): b for b in platforms.sent_to_messenger(LATE_USER)}
    tagged = sent["Marta here, sorry for the wait."]
    assert (tagged["messaging_type"], tagged["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
