"""The storefront's settings come from the environment, with the backend's rule: development
defaults, and no default or placeholder secret outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from storefront.settings import Settings

from dispute_backend.settings import DEV_STOREFRONT_TOKEN

NAMES = (
    "APP_ENV",
    "BACKEND_URL",
    "STOREFRONT_SERVICE_TOKEN",
    "WEB_SESSION_SECRET",
    "PUBLIC_RASA_URL",
    "HOST",
    "WEB_PORT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


def test_development_works_with_nothing_set() -> None:
    settings = Settings()
    assert settings.storefront_service_token == DEV_STOREFRONT_TOKEN  # the backend's default
    assert len(settings.web_session_secret) >= 32
    assert settings.demo_sign_in and not settings.secure_cookies
    assert (settings.backend_url, settings.web_port) == ("http://127.0.0.1:8000", 8080)


def test_every_value_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "APP_ENV": "production",
        "BACKEND_URL": "http://backend:8000",
        "STOREFRONT_SERVICE_TOKEN": "t" * 32,
        "WEB_SESSION_SECRET": "s" * 32,
        "PUBLIC_RASA_URL": "https://chat.example",
        "HOST": "127.0.0.9",
        "WEB_PORT": "9002",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.backend_url == "http://backend:8000"
    assert settings.public_rasa_url == "https://chat.example"
    assert settings.storefront_service_token == "t" * 32 and settings.web_session_secret == "s" * 32
    assert settings.secure_cookies and not settings.demo_sign_in
    assert (settings.host, settings.web_port) == ("127.0.0.9", 9002)


@pytest.mark.parametrize(
    ("token", "secret"),
    [("", "s" * 32), ("t" * 32, ""), (DEV_STOREFRONT_TOKEN, "s" * 32), ("changeme", "s" * 32)],
)
def test_production_refuses_missing_and_default_secrets(
    monkeypatch: pytest.MonkeyPatch, token: str, secret: str
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("STOREFRONT_SERVICE_TOKEN", token)
    monkeypatch.setenv("WEB_SESSION_SECRET", secret)
    with pytest.raises(ValidationError, match="must be set to a real secret"):
        Settings()
