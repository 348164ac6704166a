"""One settings object, read from the environment."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from secrets import token_urlsafe
from typing import ClassVar, Self

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BACKEND_DIR = Path(__file__).resolve().parents[2]
REPO_ROOT = BACKEND_DIR.parent
VAR_DIR = REPO_ROOT / "var"

# Used only when APP_ENV is development or test and the variable is unset.
DEV_ASSISTANT_TOKEN = "dev-assistant-token"  # noqa: S105  (development only, refused elsewhere)
DEV_STOREFRONT_TOKEN = "dev-storefront-token"  # noqa: S105
DEV_CONSOLE_TOKEN = "dev-console-token"  # noqa: S105
DEV_CHAT_SECRET = "dev-chat-token-secret-change-me-in-production"  # noqa: S105
DEV_IDENTITY_SECRET = "dev-channel-identity-secret-change-me-in-production"  # noqa: S105
# Outside development every secret must be at least this long (a token_urlsafe(32) is 43).
MIN_SECRET_LENGTH = 32

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "placeholder", "todo", "xxx"}


class AppEnv(StrEnum):
    development = "development"
    test = "test"
    production = "production"


def refuse_placeholders(app_env: AppEnv, secrets: dict[str, str], defaults: set[str]) -> None:
    """Outside development and tests, a secret that is unset, a placeholder or one of the
    development defaults is refused (ValueError, naming the variable). The console and the
    storefront call this; the backend's own check below also refuses short or shared ones."""
    if app_env in (AppEnv.development, AppEnv.test):
        return
    for name, value in secrets.items():
        if value.strip().lower() in PLACEHOLDER_SECRETS or value in defaults:
            raise ValueError(f"{name.upper()} must be set to a real secret in {app_env}")


class FrontendSettings(BaseSettings):
    """What the two apps in front of the backend, the console and the storefront, read alike:
    where to listen, where the backend is, and, under each app's own names, its service token
    for the backend and the secret that signs its session cookie."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    # Set by each app: the fields of its service token and of its session secret, and the
    # backend's development default for that token.
    secret_fields: ClassVar[tuple[str, str]]
    dev_token: ClassVar[str]

    app_env: AppEnv = AppEnv.development
    host: str = "127.0.0.1"  # where `python -m console` or `python -m storefront` listens
    backend_url: str = "http://127.0.0.1:8000"

    @property
    def secure_cookies(self) -> bool:
        return self.app_env == AppEnv.production

    @model_validator(mode="after")
    def _defaults_and_secrets(self) -> Self:
        """Outside development, an unset or placeholder token or secret is refused; in
        development the token defaults to the backend's, and the secret to a random one
        (sessions then end on restart)."""
        token, session_secret = self.secret_fields
        given = {token: getattr(self, token), session_secret: getattr(self, session_secret)}
        refuse_placeholders(self.app_env, given, {self.dev_token})
        if not given[token]:
            setattr(self, token, self.dev_token)
        if not given[session_secret]:
            setattr(self, session_secret, token_urlsafe(32))
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    app_env: AppEnv = AppEnv.development
    database_url: str = ""
    assistant_service_token: str = ""
    storefront_service_token: str = ""
    console_service_token: str = ""
    chat_token_secret: str = ""
    chat_token_ttl_seconds: int = 12 * 3600
    # Shared with the Rasa server, which signs a Telegram or Messenger user's identity once
    # the platform's webhook is verified (extensions/identity.py); checked here.
    channel_identity_secret: str = ""
    evidence_dir: Path = VAR_DIR / "evidence"
    # Account linking (Telegram, Messenger): one-time codes sent by e-mail. In development the
    # "e-mail" is a file in this folder (`python -m dispute_backend outbox` prints them).
    outbox_dir: Path = VAR_DIR / "outbox"
    link_code_ttl_seconds: int = 600
    link_code_max_attempts: int = 5
    link_codes_per_hour: int = 5  # per channel account
    link_codes_per_email_per_hour: int = 3  # per address typed, known or not
    link_codes_per_buyer_per_day: int = 6  # whichever chats ask: each mails the buyer
    link_codes_per_hour_total: int = 500  # all chats together: an attack, not buyers

    # Rules (docs/rules.md); every duration and threshold is a setting.
    protection_days: int = 15
    negotiation_days: int = 5
    carrier_response_days: int = 10
    abuse_min_purchases: int = 10
    abuse_share: Decimal = Decimal("0.8")
    max_evidence_bytes: int = 10 * 1024 * 1024
    max_evidence_files: int = 20

    # Handoff queue: wait = position x minutes per conversation / max(1, operators online).
    handoff_minutes_per_conversation: int = 6
    handoff_presence_seconds: int = 60  # an operator is online this long after a heartbeat
    handoff_offline_answer: str = "within 24 hours"  # told to buyers when no one is online

    # Console sign-in: every try costs an Argon2 hash, so failed tries are counted per operator
    # id and per client address (an office may share one), and few checks run at once.
    login_failures_per_operator: int = 5
    login_failures_per_client: int = 20
    login_failure_window_seconds: int = 900  # failures older than this are forgotten
    login_block_seconds: int = 900  # how long a key is refused once over its limit
    login_concurrent_checks: int = 4  # password checks at once, all processes together
    login_check_lease_seconds: int = 30  # a slot frees itself after this if its process died

    # HTTP worker processes of `serve`: one per core here (2). Each has its own event loop,
    # thread pool and connection pool; the scheduler runs once beside them.
    http_workers: int = 2
    worker_threads: int = 8
    scheduler_enabled: bool = True
    scheduler_interval_seconds: float = 30.0

    @model_validator(mode="after")
    def _defaults_and_secrets(self) -> Self:
        if not self.database_url:
            VAR_DIR.mkdir(parents=True, exist_ok=True)
            self.database_url = f"sqlite:///{VAR_DIR / 'backend.db'}"
        if not self.evidence_dir.is_absolute():
            self.evidence_dir = REPO_ROOT / self.evidence_dir
        if not self.outbox_dir.is_absolute():
            self.outbox_dir = REPO_ROOT / self.outbox_dir
        lenient = self.app_env in (AppEnv.development, AppEnv.test)
        defaults = {
            "assistant_service_token": DEV_ASSISTANT_TOKEN,
            "storefront_service_token": DEV_STOREFRONT_TOKEN,
            "console_service_token": DEV_CONSOLE_TOKEN,
            "chat_token_secret": DEV_CHAT_SECRET,
            "channel_identity_secret": DEV_IDENTITY_SECRET,
        }
        for name, default in defaults.items():
            value: str = getattr(self, name)
            if value.strip().lower() in PLACEHOLDER_SECRETS or value in defaults.values():
                if not lenient:
                    raise ValueError(
                        f"{name.upper()} must be set to a real secret in {self.app_env}"
                    )
                if not value:
                    setattr(self, name, default)
            elif not lenient and len(value) < MIN_SECRET_LENGTH:
                raise ValueError(f"{name.upper()} must be at least {MIN_SECRET_LENGTH} characters")
        if not lenient and len(set(map(str, (getattr(self, n) for n in defaults)))) < len(defaults):
            raise ValueError("every secret must differ from the others")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
