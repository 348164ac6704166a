"""One settings object for the console, read from the environment, on the backend's pattern
(dispute_backend/settings.py): development defaults, refused outside development."""

from __future__ import annotations

from functools import lru_cache

from dispute_backend.settings import DEV_CONSOLE_TOKEN, FrontendSettings


class Settings(FrontendSettings):
    secret_fields = ("console_service_token", "console_session_secret")
    dev_token = DEV_CONSOLE_TOKEN

    console_port: int = 8090
    console_service_token: str = ""  # the backend's CONSOLE_SERVICE_TOKEN
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_api_token: str = ""  # Rasa's --auth-token
    console_session_secret: str = ""  # signs the session cookie
    # Paused conversations without an open ticket are given back this often (0: never),
    # looking at tickets closed within this many seconds.
    reconcile_interval_seconds: float = 60.0
    reconcile_within_seconds: int = 86400


@lru_cache
def get_settings() -> Settings:
    return Settings()
