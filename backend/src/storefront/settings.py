"""One settings object for the storefront, read from the environment, on the backend's pattern
(dispute_backend/settings.py): development defaults, refused outside development."""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import Self

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dispute_backend.settings import DEV_STOREFRONT_TOKEN, AppEnv, refuse_placeholders


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    app_env: AppEnv = AppEnv.development
    host: str = "127.0.0.1"  # where `python -m storefront` listens
    web_port: int = 8080
    backend_url: str = "http://127.0.0.1:8000"
    storefront_service_token: str = ""  # the backend's STOREFRONT_SERVICE_TOKEN
    web_session_secret: str = ""  # signs the session cookie
    public_rasa_url: str = "http://localhost:5005"  # where the page's chat widget connects

    @property
    def secure_cookies(self) -> bool:
        return self.app_env == AppEnv.production

    @property
    def demo_sign_in(self) -> bool:
        """The no-password buyer picker: development and tests only."""
        return self.app_env in (AppEnv.development, AppEnv.test)

    @model_validator(mode="after")
    def _defaults_and_secrets(self) -> Self:
        refuse_placeholders(
            self.app_env,
            {
                "storefront_service_token": self.storefront_service_token,
                "web_session_secret": self.web_session_secret,
            },
            {DEV_STOREFRONT_TOKEN},
        )
        if not self.storefront_service_token:
            self.storefront_service_token = DEV_STOREFRONT_TOKEN  # the backend's dev default
        if not self.web_session_secret:
            self.web_session_secret = secrets.token_urlsafe(32)  # sessions end on restart
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
