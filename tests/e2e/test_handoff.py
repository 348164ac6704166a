"""Human handoff end to end: a buyer in the web chat, operators in the console.

Two browser contexts (the buyer's and the operator's) for the whole loop; plain HTTP
sessions on the console for the claim race, the restart of Rasa, and CSRF.
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import RunningStack
from tests.e2e.test_webchat import BOT, USER, open_chat, send, sign_in

OPERATORS = {"op-marta": "marta-demo-pass", "op-jordi": "jordi-demo-pass"}
JOINED = "from customer service has joined the chat"
ENDED = "back with the assistant"


def console_url(stack: RunningStack) -> str:
    return f"http://{stack.env['PUBLIC_HOST']}:{stack.env['CONSOLE_PORT']}"


class ConsoleSession:
    """An operator signed in to the console over plain HTTP (as a browser would post)."""

    def __init__(self, stack: RunningStack, operator_id: str) -> None:
        self.base = console_url(stack)
        self.http = requests.Session()
        self.csrf = self._csrf("/login")
        response = self.http.post(
            f"{self.base}/login",
            data={
                "operator_id": operator_id,
                "password": OPERATORS[operator_id],
                "csrf": self.csrf,
            },
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 303, response.text
        self.csrf = self._csrf("/")  # a new session gets a new token

    def _csrf(self, path: str) -> str:
        page = self.http.get(f"{self.base}{path}", timeout=10)
        page.raise_for_status()
        found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert found, page.text[:300]
        return found.group(1)

    def post(self, path: str, **fields: str) -> requests.Response:
        return self.http.post(
            f"{self.base}{path}",
            data={"key": uuid.uuid4().hex, **fields},
            headers={"X-CSRF-Token": self.csrf, "Accept": "application/json"},
            timeout=15,
        )


def bot_texts(stack: RunningStack, conversation_id: str) -> list[str]:
    response = requests.get(
        f"{stack.rasa_url}/conversations/{conversation_id}/tracker",
        params={"token": stack.env["RASA_API_TOKEN"], "include_events": "ALL"},
        timeout=10,
    )
    response.raise_for_status()
    return [str(e.get("text")) for e in response.json()["events"] if e.get("event") == "bot"]


def waiting_tickets(stack: RunningStack) -> list[dict[str, Any]]:
    tickets = stack.operator_api("get", "/handoff/tickets")["tickets"]
    return [t for t in tickets if t["state"] == "waiting"]


def ask_for_a_person(stack: RunningStack, buyer: str) -> tuple[str, str]:
    sender = f"handoff-{uuid.uuid4().hex[:10]}"
    token = stack.chat_token(buyer)
    answer = stack.say(sender, "/request_human", {"chat_token": token})
    text = " ".join(str(m.get("text", "")) for m in answer)
    assert "queue" in text or "No one from our team" in text, text
    return sender, token


def test_buyer_and_operator_talk_then_the_bot_takes_over_again(
    stack: RunningStack, browser: Any
) -> None:
    operator_ctx = browser.new_context()
    buyer_ctx = browser.new_context()
    outside: list[str] = []
    try:
        console: Page = operator_ctx.new_page()
        local = ("localhost", "127.0.0.1")
        console.on(
            "request",
            lambda r: outside.append(r.url) if urlsplit(r.url).hostname not in local else None,
        )
        console.goto(f"{console_url(stack)}/login")
        console.get_by_label("Operator id").fill("op-marta")
        console.get_by_label("Password").fill(OPERATORS["op-marta"])
        console.get_by_role("button", name="Sign in").click()
        expect(console.get_by_role("heading", name="Conversations waiting")).to_be_visible()

        buyer: Page = buyer_ctx.new_page()
        sign_in(buyer, stack)
        open_chat(buyer)
        expect(buyer.locator(BOT).first).to_be_visible(timeout=30_000)
        before = buyer.locator(BOT).count()
        ahead = len(waiting_tickets(stack))  # whatever other tests left in the queue
        send(buyer, "/request_human")
        expect(buyer.locator(BOT)).to_have_count(before + 1, timeout=30_000)
        expect(buyer.locator(BOT).last).to_contain_text(f"number {ahead + 1} in the queue")

        # The queue updates live: the ticket appears without a reload.
        row = console.locator("#queue-rows tr[data-state='waiting']").filter(has_text="Alice")
        expect(row).to_be_visible(timeout=10_000)
        expect(row).to_contain_text("user_request")
        row.get_by_role("link").click()
        expect(console.locator(".buyer-name")).to_contain_text("Alice Martin")
        expect(console.locator("table.orders")).to_contain_text("Wireless earbuds")
        expect(console.locator("#transcript")).to_contain_text("/request_human")
        console.get_by_role("button", name="Claim").click()
        expect(buyer.locator(BOT).last).to_contain_text(f"Marta Vidal {JOINED}", timeout=15_000)

        console.locator("#reply-form textarea").fill("Hello Alice, I'm looking at your order.")
        console.get_by_role("button", name="Send").click()
        expect(buyer.locator(BOT).last).to_contain_text("looking at your order", timeout=15_000)

        send(buyer, "thanks, the earbuds crackle")
        expect(buyer.locator(USER).filter(has_text="earbuds crackle")).to_be_visible()
        expect(console.locator("#transcript")).to_contain_text("earbuds crackle", timeout=10_000)

        console.get_by_role("button", name="Give back to the bot").click()
        expect(buyer.locator(BOT).last).to_contain_text(ENDED, timeout=15_000)
        count = buyer.locator(BOT).count()
        send(buyer, "hi")
        expect(buyer.locator(BOT)).to_have_count(count + 1, timeout=30_000)
        assert outside == []
    finally:
        buyer_ctx.close()
        operator_ctx.close()


def test_two_operators_claim_at_once_and_exactly_one_wins(stack: RunningStack) -> None:
    sender, _ = ask_for_a_person(stack, "bruno")
    ticket = stack.ticket_of(sender)["id"]
    sessions = {o: ConsoleSession(stack, o) for o in OPERATORS}
    start = threading.Barrier(len(sessions))
    codes: dict[str, int] = {}

    def claim(operator_id: str) -> None:
        start.wait(10)
        codes[operator_id] = sessions[operator_id].post(f"/tickets/{ticket}/claim").status_code

    threads = [threading.Thread(target=claim, args=(o,)) for o in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(codes.values()) == [200, 409], codes
    winner = next(o for o, code in codes.items() if code == 200)
    assert stack.ticket_of(sender)["operator_id"] == winner
    assert sum(JOINED in text for text in bot_texts(stack, sender)) == 1
    assert sessions[winner].post(f"/tickets/{ticket}/give-back").status_code == 200


def test_the_handoff_survives_a_restart_of_rasa(stack: RunningStack) -> None:
    sender, token = ask_for_a_person(stack, "carla")
    marta = ConsoleSession(stack, "op-marta")
    ticket = stack.ticket_of(sender)["id"]
    assert marta.post(f"/tickets/{ticket}/claim").status_code == 200

    stack.stack.stop_service("rasa")
    stack.stack.start_service("rasa")

    assert stack.say(sender, "hello? is anyone there?", {"chat_token": token}) == []
    reply = marta.post(f"/tickets/{ticket}/reply", text="Still here, Carla: checking D-10002.")
    assert reply.status_code == 200, reply.text
    assert "Still here, Carla: checking D-10002." in bot_texts(stack, sender)
    # "restart" is the one intent Rasa handles while paused; it must not end the handoff.
    assert stack.say(sender, "/restart", {"chat_token": token}) == []
    assert stack.say(sender, "are you still there?", {"chat_token": token}) == []

    assert marta.post(f"/tickets/{ticket}/give-back").status_code == 200
    assert any(ENDED in text for text in bot_texts(stack, sender))
    assert stack.say(sender, "hi", {"chat_token": token}) != []
    # The human part is stored with the ticket: the buyer's lines and the reply.
    detail = requests.get(
        f"{stack.backend_url}/api/v1/operator/handoff/tickets/{ticket}",
        headers={
            "Authorization": f"Bearer {stack.env['CONSOLE_SERVICE_TOKEN']}",
            "X-Operator-Id": "op-marta",
        },
        timeout=5,
    ).json()
    said = {(m["party"], m["body"]) for m in detail["transcript"]}
    assert ("user", "hello? is anyone there?") in said
    assert ("operator", "Still here, Carla: checking D-10002.") in said
    assert detail["state"] == "closed"


def test_a_handoff_asked_while_the_backend_is_down_apologises_and_keeps_the_bot(
    stack: RunningStack,
) -> None:
    sender = f"handoff-down-{uuid.uuid4().hex[:8]}"
    token = stack.chat_token("diego")
    stack.stack.stop_service("backend")
    try:
        answer = stack.say(sender, "/request_human", {"chat_token": token})
        assert "couldn't reach our team" in " ".join(str(m.get("text")) for m in answer)
    finally:
        stack.stack.start_service("backend")
    assert stack.say(sender, "hi", {"chat_token": token}) != []  # not paused


@pytest.mark.parametrize("path", ["/tickets/1/claim", "/tickets/1/reply", "/logout", "/login"])
def test_a_console_post_without_the_csrf_token_is_refused(stack: RunningStack, path: str) -> None:
    marta = ConsoleSession(stack, "op-marta")
    forged = marta.http.post(
        f"{marta.base}{path}",
        data={"text": "forged", "operator_id": "op-marta", "password": OPERATORS["op-marta"]},
        headers={"Origin": "http://evil.example"},
        allow_redirects=False,
        timeout=10,
    )
    assert forged.status_code == 403
    wrong = marta.http.post(
        f"{marta.base}{path}", data={"csrf": "not-the-token"}, allow_redirects=False, timeout=10
    )
    assert wrong.status_code == 403
    assert marta.http.get(f"{marta.base}/", timeout=10).status_code == 200  # still signed in


def operator_online(stack: RunningStack, operator_id: str = "op-marta") -> None:
    """The console's heartbeat: the operator counts as online for a while."""
    response = requests.post(
        f"{stack.backend_url}/api/v1/operator/presence",
        json={"online": True},
        headers={
            "Authorization": f"Bearer {stack.env['CONSOLE_SERVICE_TOKEN']}",
            "X-Operator-Id": operator_id,
        },
        timeout=5,
    )
    assert response.ok, response.text


def test_the_ticket_is_waiting_in_the_place_the_bot_named(stack: RunningStack) -> None:
    """When the bot has answered, the ticket is in the queue, at the position it told (with
    someone online to take it, whichever tests ran before)."""
    operator_online(stack)
    ahead = len(waiting_tickets(stack))
    sender = f"handoff-{uuid.uuid4().hex[:10]}"
    answer = stack.say(sender, "/request_human", {"chat_token": stack.chat_token("erin")})
    text = " ".join(str(m.get("text", "")) for m in answer)
    ticket = stack.ticket_of(sender)
    assert ticket["state"] == "waiting"
    assert ticket["position"] == ahead + 1
    assert f"number {ahead + 1} in the queue" in text, text


def test_a_buyer_who_no_longer_needs_a_person_leaves_the_queue(stack: RunningStack) -> None:
    """Waiting, the buyer says they found it: out of the queue, the ticket closed as
    withdrawn, the bot answers again. Once someone has claimed the ticket, the same words
    go to that person and the conversation stays with them."""
    sender, token = ask_for_a_person(stack, "erin")
    ticket = stack.ticket_of(sender)["id"]
    assert stack.say(sender, "what's taking so long", {"chat_token": token}) == []  # logged
    answer = stack.say(sender, "never mind, I found it", {"chat_token": token})
    assert "out of the queue" in " ".join(str(m.get("text")) for m in answer), answer
    detail = stack.operator_api("get", f"/handoff/tickets/{ticket}")
    assert detail["state"] == "closed" and detail["outcome"] == "withdrawn"
    assert stack.say(sender, "how are my disputes going?", {"chat_token": token}) != []

    sender, token = ask_for_a_person(stack, "erin")
    marta = ConsoleSession(stack, "op-marta")
    ticket = stack.ticket_of(sender)["id"]
    assert marta.post(f"/tickets/{ticket}/claim").status_code == 200
    assert stack.say(sender, "never mind, I found it", {"chat_token": token}) == []
    assert stack.ticket_of(sender)["state"] == "assigned"
    assert marta.post(f"/tickets/{ticket}/give-back").status_code == 200
