"""Finding 2: a chat token proves who writes only in the message that carries it, only in
its own conversation, and only until the buyer signs out of the web page.

The buyer signs in to the storefront with a cookie-holding client, as a browser does, and
takes the page's chat token and conversation id; the attacker replays messages around it.
"""

from __future__ import annotations

import json
import re

import requests

from tests.security.conftest import (
    RunningStack,
    SocketIoClient,
    chat_token,
    dispute_ids,
    new_sender,
    remember,
    texts,
)

STATUS = "how are my disputes going?"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(stack: RunningStack, buyer_id: str) -> tuple[requests.Session, str, str, str]:
    """(browser session, chat token, conversation id, sign-out CSRF) of a fresh sign-in."""
    browser = requests.Session()
    page = browser.get(f"{stack.web_url}/", timeout=10)
    signed = browser.post(
        f"{stack.web_url}/signin",
        timeout=10,
        data={"buyer_id": buyer_id, "csrf": csrf_of(page.text)},
    )
    assert signed.status_code == 200 and "My Orders" in signed.text, signed.status_code
    match = re.search(
        r'<script id="chat-config" type="application/json">(.*?)</script>', signed.text, re.S
    )
    assert match
    config = json.loads(match.group(1))
    remember(config["chatToken"])
    return browser, config["chatToken"], config["conversationId"], csrf_of(signed.text)


def shows(stack: RunningStack, sender: str, token: str | None, ids: list[str]) -> bool:
    metadata = {"chat_token": token} if token else {}
    answer = texts(stack.say(sender, STATUS, metadata))
    assert answer.strip(), "an empty answer"
    return any(i in answer for i in ids)


def test_a_token_counts_in_its_message_and_conversation_only_and_dies_at_sign_out(
    stack: RunningStack,
) -> None:
    ids = dispute_ids(stack, "carla")
    browser, token, conversation, csrf = sign_in(stack, "carla")
    assert shows(stack, conversation, token, ids)  # the legitimate path
    # the same conversation, the next message without a token: nobody
    assert not shows(stack, conversation, None, ids)
    # the token in another conversation: nobody, over REST and over socket.io
    assert not shows(stack, new_sender("elsewhere"), token, ids)
    client = SocketIoClient(stack, origin=stack.web_url)
    try:
        other = client.session()
        replies = client.say(other, STATUS, {"chat_token": token})
        assert replies and not any(i in texts(replies) for i in ids), replies
    finally:
        client.close()
    # still good in its own conversation
    assert shows(stack, conversation, token, ids)
    # sign out on the page: the token stops at once
    out = browser.post(
        f"{stack.web_url}/signout", data={"csrf": csrf}, timeout=10, allow_redirects=False
    )
    assert out.status_code == 303
    assert not shows(stack, conversation, token, ids)


def test_a_token_minted_without_a_conversation_binds_to_the_first_one_that_uses_it(
    stack: RunningStack,
) -> None:
    ids = dispute_ids(stack, "carla")
    token = chat_token(stack, "carla")
    first, second = new_sender("first"), new_sender("second")
    assert shows(stack, first, token, ids)
    assert not shows(stack, second, token, ids)
    assert shows(stack, first, token, ids)
