"""Settings: dev defaults work, production refuses them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.config import Settings

SECRETS = {
    "JWT_SECRET": "x" * 40,
    "COMPUTE_SERVER_ADMIN_TOKEN": "compute-token-prod",
    "COMPUTE_WEBHOOK_SECRET": "webhook-secret-prod",
    "FIRST_SUPERUSER_PASSWORD": "a-real-password",
    "R2_SECRET_ACCESS_KEY": "r2-secret-prod",
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The session harness exports its own values; these tests judge the defaults.
    for name in (*SECRETS, "ENVIRONMENT", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_development_starts_with_no_configuration() -> None:
    settings = Settings(_env_file=None, ENVIRONMENT="development")
    assert settings.async_database_url.startswith("postgresql+asyncpg://")


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_production_refuses_each_default_secret(name: str) -> None:
    values = {k: v for k, v in SECRETS.items() if k != name}
    with pytest.raises(ValidationError, match=name):
        Settings(_env_file=None, ENVIRONMENT="production", **values)


def test_production_accepts_real_secrets() -> None:
    settings = Settings(_env_file=None, ENVIRONMENT="production", **SECRETS)
    assert settings.ENVIRONMENT == "production"


def test_production_refuses_a_short_jwt_secret() -> None:
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(_env_file=None, ENVIRONMENT="production", **{**SECRETS, "JWT_SECRET": "short"})


def test_database_url_forms_are_normalised() -> None:
    for url in ("postgres://u@h/db", "postgresql://u@h/db", "postgresql+asyncpg://u@h/db"):
        settings = Settings(_env_file=None, ENVIRONMENT="development", DATABASE_URL=url)
        assert settings.async_database_url == "postgresql+asyncpg://u@h/db"
