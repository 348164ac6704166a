"""One settings object for the storefront, read from the environment, on the backend's pattern
(dispute_backend/settings.py): development defaults, refused outside development."""

from __future__ import annotations

from functools import lru_cache

from dispute_backend.settings import DEV_STOREFRONT_TOKEN, AppEnv, FrontendSettings


class Settings(FrontendSettings):
    secret_fields = ("storefront_service_token", "web_session_secret")
    dev_token = DEV_STOREFRONT_TOKEN

    web_port: int = 8080
    storefront_service_token: str = ""  # the backend's STOREFRONT_SERVICE_TOKEN
    web_session_secret: str = ""  # signs the session cookie
    public_rasa_url: str = "http://localhost:5005"  # where the page's chat widget connects

    @property
    def demo_sign_in(self) -> bool:
        """The no-password buyer picker: development and tests only."""
        return self.app_env in (AppEnv.development, AppEnv.test)


@lru_cache
def get_settings() -> Settings:
    return Settings()
