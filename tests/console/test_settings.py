"""The console's settings come from the environment, with the backend's rule: development
defaults, and no default or placeholder secret outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from console.settings import Settings
from dispute_backend.settings import DEV_CONSOLE_TOKEN

NAMES = (
    "APP_ENV",
    "BACKEND_URL",
    "CONSOLE_SERVICE_TOKEN",
    "RASA_URL",
    "RASA_API_TOKEN",
    "CONSOLE_SESSION_SECRET",
    "HOST",
    "CONSOLE_PORT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


def test_development_works_with_nothing_set() -> None:
    settings = Settings()
    assert settings.console_service_token == DEV_CONSOLE_TOKEN  # the backend's own default
    assert len(settings.console_session_secret) >= 32 and not settings.secure_cookies
    assert (settings.backend_url, settings.console_port) == ("http://127.0.0.1:8000", 8090)


def test_every_value_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "APP_ENV": "production",
        "BACKEND_URL": "http://backend:8000",
        "CONSOLE_SERVICE_TOKEN": "c" * 32,
        "RASA_URL": "http://rasa:5005",
        "RASA_API_TOKEN": "r" * 32,
        "CONSOLE_SESSION_SECRET": "s" * 32,
        "HOST": "127.0.0.9",
        "CONSOLE_PORT": "9001",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.backend_url == "http://backend:8000" and settings.rasa_url == "http://rasa:5005"
    assert settings.console_service_token == "c" * 32 and settings.rasa_api_token == "r" * 32
    assert settings.console_session_secret == "s" * 32 and settings.secure_cookies
    assert (settings.host, settings.console_port) == ("127.0.0.9", 9001)


@pytest.mark.parametrize(
    ("token", "secret"),
    [("", "s" * 32), ("c" * 32, ""), (DEV_CONSOLE_TOKEN, "s" * 32), ("changeme", "s" * 32)],
)
def test_production_refuses_missing_and_default_secrets(
    monkeypatch: pytest.MonkeyPatch, token: str, secret: str
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("CONSOLE_SERVICE_TOKEN", token)
    monkeypatch.setenv("CONSOLE_SESSION_SECRET", secret)
    with pytest.raises(ValidationError, match="must be set to a real secret"):
        Settings()
