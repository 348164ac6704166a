"""The web page as a buyer uses it, in headless Chromium."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.e2e.conftest import RunningStack

BOT = ".rw-response .rw-message-text"  # not the typing indicator, which has no text
USER = ".rw-client .rw-message-text"


def sign_in(page: Page, stack: RunningStack, buyer_index: int = 0) -> None:
    page.goto(stack.web_url)
    page.locator("button.buyer").nth(buyer_index).click()
    expect(page.get_by_role("heading", name="My Orders")).to_be_visible()


def open_chat(page: Page) -> None:
    launcher = page.locator(".rw-launcher")
    if page.locator(".rw-conversation-container").count() == 0:
        launcher.click()
    expect(page.locator(".rw-new-message")).to_be_visible()


def send(page: Page, text: str) -> None:
    page.locator(".rw-new-message").fill(text)
    page.locator(".rw-new-message").press("Enter")


def conversation_id(page: Page) -> str:
    """The conversation the widget is in: rasa-webchat's stored session."""
    stored = json.loads(page.evaluate("window.localStorage.getItem('chat_session')") or "{}")
    return str(stored.get("session_id") or "")


def said(events: list[dict[str, Any]], kind: str) -> list[str]:
    return [str(e.get("text")) for e in events if e.get("event") == kind]


def test_buyer_chats_reloads_and_clicks_a_button(stack: RunningStack, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if urlsplit(request.url).hostname not in ("localhost", "127.0.0.1", None)
            else None
        ),
    )
    try:
        sign_in(page, stack)
        expect(page.locator("table.orders tbody tr").first).to_be_visible()
        open_chat(page)
        # The widget greets on opening (initPayload); then the buyer says hi.
        expect(page.locator(BOT).first).to_be_visible(timeout=30_000)
        greetings_before = page.locator(BOT).count()
        send(page, "hi")
        expect(page.locator(USER).filter(has_text="hi")).to_be_visible()
        expect(page.locator(BOT)).to_have_count(greetings_before + 1, timeout=30_000)
        answer = page.locator(BOT).last.inner_text()
        assert "dispute" in answer.lower()

        conversation = conversation_id(page)
        before_reload = stack.tracker_events(conversation)
        assert "hi" in said(before_reload, "user") and answer in said(before_reload, "bot")

        # A reload keeps the conversation: on screen, and in Rasa's tracker, where the
        # same conversation goes on (no new one, no new session).
        page.reload()
        open_chat(page)
        expect(page.locator(USER).filter(has_text="hi")).to_be_visible(timeout=15_000)
        expect(page.locator(BOT).filter(has_text=answer[:40]).first).to_be_visible()
        assert conversation_id(page) == conversation

        # Buttons render as buttons, and clicking one gets its reply.
        bot_before = page.locator(BOT).count()
        button = page.locator(".rw-replies .rw-reply").filter(has_text="How do disputes work")
        if button.count() == 0:
            button = page.locator(".rw-replies .rw-reply").first
        expect(button.first).to_be_visible()
        button.first.click()
        expect(page.locator(BOT)).to_have_count(bot_before + 1, timeout=30_000)
        after = stack.tracker_events(conversation)
        assert after[: len(before_reload)] == before_reload  # the same history, continued
        new_turns = after[len(before_reload) :]
        assert len(said(new_turns, "user")) == 1 and said(new_turns, "bot")
        assert page.locator(BOT).last.inner_text() in said(new_turns, "bot")
        sessions = [e for e in after if e.get("event") == "session_started"]
        assert len(sessions) == 1, [e.get("event") for e in after]
        # Everything the page needed came from this machine (no CDN, no fonts).
        assert outside == []
    finally:
        context.close()


def test_signing_in_as_another_buyer_starts_a_new_conversation(
    stack: RunningStack, browser: Any
) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, stack, buyer_index=0)
        open_chat(page)
        send(page, "hello there")
        expect(page.locator(USER).filter(has_text="hello there")).to_be_visible()
        page.locator("form.account button").click()
        sign_in(page, stack, buyer_index=1)
        open_chat(page)
        expect(page.locator(BOT).first).to_be_visible(timeout=30_000)
        expect(page.locator(USER).filter(has_text="hello there")).to_have_count(0)
    finally:
        context.close()
