"""One settings object for the action server process, read from the environment on first
use, on the pattern of the backend's, the console's and the storefront's settings modules:
the same variable names, development defaults (docs/configuration.md).

A frozen dataclass rather than pydantic's BaseSettings: the Rasa environment only has
pydantic as one of Rasa's own dependencies, and ten plain variables need no validation
beyond `int` and `float`. Tests that change the environment call
`get_settings.cache_clear()` (tests/actions/conftest.py `settings_env`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    # The server itself (actions/server.py).
    host: str = "127.0.0.1"  # where `python -m actions.server` listens by default
    action_port: int = 5055
    log_level: str = "INFO"
    action_server_token: str = ""  # what Rasa sends (endpoints.yml); required to start
    # The dispute backend (actions/backend_client.py).
    backend_url: str = "http://127.0.0.1:8000"
    assistant_service_token: str = ""  # the backend's ASSISTANT_SERVICE_TOKEN
    backend_timeout: float = 2.0  # seconds; past this the bot apologises and offers a human
    # Where files sent on Telegram and Messenger are fetched from (actions/evidence.py).
    telegram_api_url: str = "https://api.telegram.org"
    telegram_bot_token: str = ""
    facebook_api_url: str = "https://graph.facebook.com"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """An unset variable keeps its default; an empty address does too (an empty token
        or host stays empty, as it always has)."""
        return cls(
            host=env.get("HOST", cls.host),
            action_port=int(env.get("ACTION_PORT", cls.action_port)),
            log_level=env.get("LOG_LEVEL", cls.log_level),
            action_server_token=env.get("ACTION_SERVER_TOKEN", cls.action_server_token),
            backend_url=env.get("BACKEND_URL") or cls.backend_url,
            assistant_service_token=env.get("ASSISTANT_SERVICE_TOKEN", cls.assistant_service_token),
            backend_timeout=float(env.get("BACKEND_TIMEOUT", cls.backend_timeout)),
            telegram_api_url=env.get("TELEGRAM_API_URL") or cls.telegram_api_url,
            telegram_bot_token=env.get("TELEGRAM_BOT_TOKEN", cls.telegram_bot_token),
            facebook_api_url=env.get("FACEBOOK_API_URL") or cls.facebook_api_url,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
