"""Finding 11: production mode, each service started on its own.

With APP_ENV=production the seed command refuses (the demo data holds known passwords),
the web page's no-password buyer picker is off, and the REST channel refuses every request
without its bearer token. Each check is paired with the same service outside production,
where the thing refused works.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import free_port
from tests.security.conftest import RunningStack

ROOT = Path(__file__).resolve().parents[2]
BACKEND_PY = ROOT / "backend" / ".venv" / "bin" / "python"
RASA_PY = ROOT / ".venv" / "bin" / "python"


def production_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A production environment with real-looking, distinct secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "REST_"))}
    names = (
        "ASSISTANT_SERVICE_TOKEN",
        "STOREFRONT_SERVICE_TOKEN",
        "CONSOLE_SERVICE_TOKEN",
        "CHAT_TOKEN_SECRET",
        "CHANNEL_IDENTITY_SECRET",
        "WEB_SESSION_SECRET",
        "CONSOLE_SESSION_SECRET",
        "RASA_API_TOKEN",
    )
    env.update({name: secrets.token_urlsafe(32) for name in names})
    env.update(
        {
            "APP_ENV": "production",
            "DATABASE_URL": f"sqlite:///{tmp / 'prod.db'}",
            "PYTHONPATH": str(ROOT),
            "VAR_DIR": str(tmp),
        }
    )
    # The web chat's shared rooms are off, as in `make run`: credentials.yml names them.
    env.update(
        {"SOCKETIO_REDIS_URL": "", "SOCKETIO_REDIS_CHANNEL": "", "SOCKETIO_SESSION_COOKIE": ""}
    )
    env.update(extra)
    return env


@contextmanager
def service(command: list[str], env: dict[str, str], health: str) -> Iterator[None]:
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{command[2:4]} exited during start-up"
            try:
                if requests.get(health, timeout=2).status_code < 500:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            pytest.fail(f"{command} did not start")
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def backend_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(BACKEND_PY), "-m", "dispute_backend", *args]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_seed_refuses_in_production(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    assert backend_command(env, "migrate").returncode == 0
    refused = backend_command(env, "seed")
    assert refused.returncode != 0
    assert "production" in refused.stderr
    assert "Traceback" not in refused.stderr
    seeded = backend_command({**env, "APP_ENV": "development"}, "seed")
    assert seeded.returncode == 0, seeded.stderr


def test_the_web_pages_buyer_picker_is_off_in_production(
    stack: RunningStack, tmp_path: Path
) -> None:
    port = free_port()
    # the test stack's backend, which does list the demo buyers: only the page can refuse
    token = stack.env["STOREFRONT_SERVICE_TOKEN"]
    env = production_env(tmp_path, BACKEND_URL=stack.backend_url, STOREFRONT_SERVICE_TOKEN=token)
    url = f"http://127.0.0.1:{port}"
    command = [str(BACKEND_PY), "-m", "storefront", "--host", "127.0.0.1", "--port", str(port)]
    with service(command, env, f"{url}/health"):
        page = requests.get(f"{url}/", timeout=10)
        assert page.status_code == 200
        assert "alice" not in page.text and 'name="buyer_id"' not in page.text
        assert "switched off" in page.text
        # An attacker replays the session cookie (Secure in production, sent here anyway) and
        # the CSRF token it carries (readable: the cookie is signed, not encrypted).
        assert "secure" in page.headers["set-cookie"].lower()
        cookie = page.headers["set-cookie"].split(";")[0]
        payload = cookie.split("=", 1)[1].split(".")[0]
        csrf = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))["csrf"]
        signin = requests.post(
            f"{url}/signin",
            headers={"Cookie": cookie},
            timeout=10,
            data={"buyer_id": "alice", "csrf": csrf},
            allow_redirects=False,
        )
        assert signin.status_code == 404
    # outside production, the same page offers the demo buyers
    assert 'name="buyer_id"' in requests.get(f"{stack.web_url}/", timeout=10).text


def test_the_rest_channel_refuses_requests_without_its_token_in_production(
    tmp_path: Path,
) -> None:
    token = secrets.token_urlsafe(32)
    ports = {"none": free_port(), "set": free_port()}
    message = {"sender": "someone", "message": "hi"}
    # The other channels have no credentials, and their platforms' APIs are a closed port.
    unset = "TELEGRAM_BOT_TOKEN TELEGRAM_SECRET_TOKEN"
    unset += " FACEBOOK_VERIFY_TOKEN FACEBOOK_APP_SECRET FACEBOOK_PAGE_ACCESS_TOKEN"
    closed = dict.fromkeys(("TELEGRAM_API_URL", "FACEBOOK_API_URL"), "http://127.0.0.1:9")
    window = {"FACEBOOK_MESSAGING_WINDOW_SECONDS": "86400"}
    others = dict.fromkeys(unset.split(), "") | closed | window

    def start(key: str, rest_token: str) -> tuple[list[str], dict[str, str], str]:
        env = production_env(tmp_path, REST_CHANNEL_TOKEN=rest_token, **others)
        command = [str(RASA_PY), "-m", "tests.security.rest_channel_server", str(ports[key])]
        return command, env, f"http://127.0.0.1:{ports[key]}/webhooks/rest/"

    with service(*start("none", "")), service(*start("set", token)):
        webhook = "http://127.0.0.1:{}/webhooks/rest/webhook"
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {token}"}):
            refused = requests.post(
                webhook.format(ports["none"]), json=message, headers=headers, timeout=10
            )
            assert refused.status_code == 401  # no token configured: nobody gets in
        url = webhook.format(ports["set"])
        for headers in (
            {},
            {"Authorization": "Bearer guessed"},
            {"Authorization": token},
            {"Authorization": f"Bearer {token}x"},
        ):
            refused = requests.post(url, json=message, headers=headers, timeout=10)
            assert refused.status_code == 401, headers
            assert refused.headers["content-type"].startswith("application/problem+json")
        allowed = requests.post(
            url, json=message, timeout=10, headers={"Authorization": f"Bearer {token}"}
        )
        assert allowed.status_code == 200
        assert allowed.json()[0]["text"] == "echo hi"
