"""The web page, the console, Telegram and Messenger through the load balancer, unchanged.

The handoff test pins the two sides on different Rasa servers: the buyer's socket is on
one (the load balancer keeps it there), and the console's calls for the conversation are
sent to the other (the first is taken out of the API's rotation with HAProxy's runtime
API, as an operator would drain it). The operator's words reach the buyer only because the
servers share their socket.io rooms through Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.cluster.conftest import RunningCluster, wait_until
from tests.e2e.fakes import FakePlatforms
from tests.e2e.test_channels import MessengerUser, TelegramUser
from tests.e2e.test_handoff import JOINED, OPERATORS, console_url
from tests.e2e.test_webchat import BOT, USER, open_chat, send, sign_in


@pytest.fixture
def drained(cluster: RunningCluster) -> Iterator[list[str]]:
    """Servers taken out of the `rasa` backend's rotation by the test; put back after."""
    names: list[str] = []
    yield names
    for name in names:
        cluster.balancer(f"enable server rasa/{name}")


def socket_server(cluster: RunningCluster) -> str:
    """The Rasa server holding the (one) web chat socket opened so far."""
    lines = [server for server, _, _ in cluster.routed() if server.startswith("rasa_socketio/")]
    assert lines, "no socket.io request went through the balancer"
    assert len(set(lines)) == 1, f"the socket moved between servers: {set(lines)}"
    return lines[-1].split("/")[1]


def test_the_buyer_on_one_server_reads_the_operator_who_writes_through_the_other(
    cluster: RunningCluster, browser: Any, drained: list[str]
) -> None:
    buyer_ctx, operator_ctx = browser.new_context(), browser.new_context()
    try:
        buyer: Page = buyer_ctx.new_page()
        sign_in(buyer, cluster)
        open_chat(buyer)
        expect(buyer.locator(BOT).first).to_be_visible(timeout=30_000)
        before = buyer.locator(BOT).count()
        send(buyer, "/request_human")
        expect(buyer.locator(BOT)).to_have_count(before + 1, timeout=30_000)
        holder = socket_server(cluster)
        other = "rasa-2" if holder == "rasa-1" else "rasa-1"
        cluster.balancer(f"disable server rasa/{holder}")  # the API now only reaches the other
        drained.append(holder)

        console: Page = operator_ctx.new_page()
        console.goto(f"{console_url(cluster)}/login")
        console.get_by_label("Operator id").fill("op-marta")
        console.get_by_label("Password").fill(OPERATORS["op-marta"])
        console.get_by_role("button", name="Sign in").click()
        row = console.locator("#queue-rows tr[data-state='waiting']").filter(has_text="Alice")
        expect(row).to_be_visible(timeout=15_000)
        row.get_by_role("link").click()
        console.get_by_role("button", name="Claim").click()
        expect(buyer.locator(BOT).last).to_contain_text(JOINED, timeout=15_000)
        console.locator("#reply-form textarea").fill("Hello Alice, Marta from the other server.")
        console.get_by_role("button", name="Send").click()
        expect(buyer.locator(BOT).last).to_contain_text("from the other server", timeout=15_000)

        conversation = cluster.open_ticket_of("alice", "socketio")["conversation_id"]
        writes = [s for s in cluster.served_by(conversation) if s.startswith("rasa/")]
        assert writes and set(writes[-2:]) == {f"rasa/{other}"}, writes
        assert socket_server(cluster) == holder  # the buyer's socket never moved

        # What the buyer says still reaches the console, through the buyer's server.
        send(buyer, "thanks, it is the earbuds")
        expect(buyer.locator(USER).filter(has_text="it is the earbuds")).to_be_visible()
        expect(console.locator("#transcript")).to_contain_text("it is the earbuds", timeout=15_000)
        console.get_by_role("button", name="Give back to the bot").click()
        expect(buyer.locator(BOT).last).to_contain_text("back with the assistant", timeout=15_000)

        # A reload reconnects (on either server) and keeps the conversation.
        buyer.reload()
        open_chat(buyer)
        expect(buyer.locator(USER).filter(has_text="it is the earbuds")).to_be_visible(
            timeout=20_000
        )
    finally:
        buyer_ctx.close()
        operator_ctx.close()


def test_telegram_and_messenger_through_the_balancer(
    cluster: RunningCluster, platforms: FakePlatforms
) -> None:
    telegram = TelegramUser(cluster, platforms, 71001)
    assert "dispute assistant" in telegram.say("/start")
    assert "15 days" in telegram.say("how long do I have to open a dispute?")
    assert set(cluster.served_by("telegram:71001")) <= {"rasa/rasa-1", "rasa/rasa-2"}
    assert len(set(cluster.served_by("telegram:71001"))) == 1  # one server per conversation
    messenger = MessengerUser(cluster, platforms, "9200000000000001")
    assert "dispute" in messenger.say("hi").lower()
    assert len(set(cluster.served_by("facebook:9200000000000001"))) == 1
    wait_until(lambda: platforms.sent_to_messenger("9200000000000001"))
