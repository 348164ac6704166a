"""Every service of `make run` answers, and the protected ones refuse strangers."""

from __future__ import annotations

import requests

from tests.e2e.conftest import RunningStack


def test_each_service_answers_its_health_check(stack: RunningStack) -> None:
    assert requests.get(f"{stack.backend_url}/health", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{stack.action_url}/health", timeout=5).status_code == 200
    assert "Hello from Rasa" in requests.get(f"{stack.rasa_url}/", timeout=5).text
    assert requests.get(f"{stack.web_url}/health", timeout=5).status_code == 200
    assert "paths" in requests.get(f"{stack.backend_url}/openapi.json", timeout=5).json()


def test_rasa_http_api_refuses_requests_without_the_token(stack: RunningStack) -> None:
    parse = f"{stack.rasa_url}/model/parse"
    assert requests.post(parse, json={"text": "hi"}, timeout=5).status_code == 401
    wrong = requests.post(parse, params={"token": "wrong"}, json={"text": "hi"}, timeout=5)
    assert wrong.status_code == 401
    tracker = requests.get(f"{stack.rasa_url}/conversations/someone/tracker", timeout=5)
    assert tracker.status_code == 401


def test_model_parse_with_the_token_extracts_the_order_number(stack: RunningStack) -> None:
    response = requests.post(
        f"{stack.rasa_url}/model/parse",
        params={"token": stack.env["RASA_API_TOKEN"]},
        json={"text": "my order #8123 4567 8901 2345 arrived broken"},
        timeout=10,
    )
    assert response.status_code == 200
    entities = {e["entity"]: e["value"] for e in response.json()["entities"]}
    assert entities["order_id"] == "8123456789012345"


def test_action_server_refuses_calls_without_the_token(stack: RunningStack) -> None:
    call = {"next_action": "action_session_start", "tracker": {"sender_id": "x"}}
    response = requests.post(f"{stack.action_url}/webhook", json=call, timeout=5)
    assert response.status_code == 401


def test_backend_refuses_buyer_requests_without_credentials(stack: RunningStack) -> None:
    response = requests.get(f"{stack.backend_url}/api/v1/orders", timeout=5)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_rest_channel_greets_with_buttons(stack: RunningStack) -> None:
    replies = stack.say("e2e-greet", "hello")
    assert replies, "the bot said nothing"
    assert any(reply.get("buttons") for reply in replies)


def test_web_page_refuses_a_sign_in_without_its_csrf_token(stack: RunningStack) -> None:
    session = requests.Session()
    page = session.get(f"{stack.web_url}/", timeout=5)
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    forged = session.post(
        f"{stack.web_url}/signin", data={"buyer_id": "alice", "csrf": "guess"}, timeout=5
    )
    assert forged.status_code == 403
    still_out = session.get(f"{stack.web_url}/", timeout=5)
    assert "My Orders" not in still_out.text
