"""One settings object for the console, read from the environment, on the backend's pattern
(dispute_backend/settings.py): development defaults, refused outside development."""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import Self

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dispute_backend.settings import DEV_CONSOLE_TOKEN, AppEnv, refuse_placeholders


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    app_env: AppEnv = AppEnv.development
    host: str = "127.0.0.1"  # where `python -m console` listens
    console_port: int = 8090
    backend_url: str = "http://127.0.0.1:8000"
    console_service_token: str = ""  # the backend's CONSOLE_SERVICE_TOKEN
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_api_token: str = ""  # Rasa's --auth-token
    console_session_secret: str = ""  # signs the session cookie
    # Paused conversations without an open ticket are given back this often (0: never),
    # looking at tickets closed within this many seconds.
    reconcile_interval_seconds: float = 60.0
    reconcile_within_seconds: int = 86400

    @property
    def secure_cookies(self) -> bool:
        return self.app_env == AppEnv.production

    @model_validator(mode="after")
    def _defaults_and_secrets(self) -> Self:
        refuse_placeholders(
            self.app_env,
            {
                "console_service_token": self.console_service_token,
                "console_session_secret": self.console_session_secret,
            },
            {DEV_CONSOLE_TOKEN},
        )
        if not self.console_service_token:
            self.console_service_token = DEV_CONSOLE_TOKEN  # the backend's development default
        if not self.console_session_secret:
            self.console_session_secret = secrets.token_urlsafe(32)  # sessions end on restart
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
