"""The storefront's and the console's settings come from the environment, with the backend's
rule: development defaults, and no default or placeholder secret outside development."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from console.settings import Settings as ConsoleSettings
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from storefront.settings import Settings as StorefrontSettings

from dispute_backend.settings import DEV_CONSOLE_TOKEN, DEV_STOREFRONT_TOKEN


@dataclass(frozen=True)
class App:
    settings: type[BaseSettings]
    token: str  # the variable of its token for the backend
    secret: str  # the variable of its session cookie's secret
    defaults: dict[str, object]  # what it reads with nothing set
    environment: dict[str, str]  # every variable it reads, set as in production
    read: dict[str, object]  # what it reads from `environment`


STOREFRONT = App(
    StorefrontSettings,
    token="STOREFRONT_SERVICE_TOKEN",
    secret="WEB_SESSION_SECRET",
    defaults={
        "storefront_service_token": DEV_STOREFRONT_TOKEN,  # the backend's default
        "demo_sign_in": True,
        "secure_cookies": False,
        "backend_url": "http://127.0.0.1:8000",
        "web_port": 8080,
    },
    environment={
        "APP_ENV": "production",
        "BACKEND_URL": "http://backend:8000",
        "STOREFRONT_SERVICE_TOKEN": "t" * 32,
        "WEB_SESSION_SECRET": "s" * 32,
        "PUBLIC_RASA_URL": "https://chat.example",
        "HOST": "127.0.0.9",
        "WEB_PORT": "9002",
    },
    read={
        "backend_url": "http://backend:8000",
        "public_rasa_url": "https://chat.example",
        "storefront_service_token": "t" * 32,
        "web_session_secret": "s" * 32,
        "secure_cookies": True,
        "demo_sign_in": False,
        "host": "127.0.0.9",
        "web_port": 9002,
    },
)

CONSOLE = App(
    ConsoleSettings,
    token="CONSOLE_SERVICE_TOKEN",
    secret="CONSOLE_SESSION_SECRET",
    defaults={
        "console_service_token": DEV_CONSOLE_TOKEN,  # the backend's own default
        "secure_cookies": False,
        "backend_url": "http://127.0.0.1:8000",
        "console_port": 8090,
    },
    environment={
        "APP_ENV": "production",
        "BACKEND_URL": "http://backend:8000",
        "CONSOLE_SERVICE_TOKEN": "c" * 32,
        "RASA_URL": "http://rasa:5005",
        "RASA_API_TOKEN": "r" * 32,
        "CONSOLE_SESSION_SECRET": "s" * 32,
        "HOST": "127.0.0.9",
        "CONSOLE_PORT": "9001",
    },
    read={
        "backend_url": "http://backend:8000",
        "rasa_url": "http://rasa:5005",
        "console_service_token": "c" * 32,
        "rasa_api_token": "r" * 32,
        "console_session_secret": "s" * 32,
        "secure_cookies": True,
        "host": "127.0.0.9",
        "console_port": 9001,
    },
)

APPS = {"storefront": STOREFRONT, "console": CONSOLE}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*STOREFRONT.environment, *CONSOLE.environment]:
        monkeypatch.delenv(name, raising=False)


def _attributes(settings: BaseSettings, names: dict[str, object]) -> dict[str, object]:
    return {name: getattr(settings, name) for name in names}


@pytest.mark.parametrize("name", APPS)
def test_development_works_with_nothing_set(name: str) -> None:
    app = APPS[name]
    settings = app.settings()
    assert _attributes(settings, app.defaults) == app.defaults
    assert len(getattr(settings, app.secret.lower())) >= 32


@pytest.mark.parametrize("name", APPS)
def test_every_value_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    app = APPS[name]
    for variable, value in app.environment.items():
        monkeypatch.setenv(variable, value)
    assert _attributes(app.settings(), app.read) == app.read


@pytest.mark.parametrize(
    ("name", "token", "secret"),
    [
        ("storefront", "", "s" * 32),
        ("storefront", "t" * 32, ""),
        ("storefront", DEV_STOREFRONT_TOKEN, "s" * 32),
        ("storefront", "changeme", "s" * 32),
        ("console", "", "s" * 32),
        ("console", "c" * 32, ""),
        ("console", DEV_CONSOLE_TOKEN, "s" * 32),
        ("console", "changeme", "s" * 32),
    ],
)
def test_production_refuses_missing_and_default_secrets(
    monkeypatch: pytest.MonkeyPatch, name: str, token: str, secret: str
) -> None:
    app = APPS[name]
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv(app.token, token)
    monkeypatch.setenv(app.secret, secret)
    with pytest.raises(ValidationError, match="must be set to a real secret"):
        app.settings()
