"""Settings common to every service; each service subclasses ``ServiceSettings`` once (its own URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Signs development tokens only; production refuses to start while it is configured.
DEVELOPMENT_SIGNING_KEY = "p2kp-development-signing-key-never-use-in-production"


class UnsafeConfiguration(RuntimeError):
    """A setting that would make a production deployment unsafe."""


class ServiceSettings(BaseSettings):
    """Read from ``P2KP_*`` environment variables (and a ``.env`` file, if present)."""

    model_config = SettingsConfigDict(env_prefix="P2KP_", env_file=".env", extra="ignore")

    mode: Literal["embedded", "distributed"] = "embedded"
    # Which of a service's parts this process runs (distributed deployments split them): ``api``
    # answers commands and queries, ``relay`` publishes the outbox, ``consumers`` runs the consumers
    # and background workers (monitoring's projections, handover's deliveries); ``all`` runs the three.
    # Every role serves /health, /ready and /metrics.
    role: Literal["all", "api", "relay", "consumers"] = "all"
    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Per-service URL; unset in embedded mode means a SQLite file under data_dir.
    database_url: str | None = None
    log_level: str = "INFO"
    log_json: bool = True
    # Largest request body accepted, in bytes (uploads have their own, larger limits).
    max_body_bytes: int = 1_048_576

    # Identity. Development signs its own tokens with a local key; production verifies an OpenID
    # Connect provider's tokens (e.g. the ministry's Keycloak) against its published JWKS.
    auth_signing_key: SecretStr = SecretStr(DEVELOPMENT_SIGNING_KEY)
    auth_issuer: str = "p2kp-local"
    auth_audience: str = "p2kp"
    auth_token_minutes: int = 480
    oidc_issuer: str | None = None
    oidc_jwks_url: str | None = None
    oidc_role_claim: str = "p2kp_role"
    oidc_regions_claim: str = "p2kp_regions"

    def refuse_unsafe_production(self) -> None:
        """Production must verify a real identity provider's tokens and carry no development secret."""
        if self.environment != "production":
            return
        problems = []
        if not (self.oidc_issuer and self.oidc_jwks_url):
            problems.append("P2KP_OIDC_ISSUER and P2KP_OIDC_JWKS_URL must name the identity provider")
        if self.auth_signing_key.get_secret_value() == DEVELOPMENT_SIGNING_KEY:
            problems.append("P2KP_AUTH_SIGNING_KEY is the development key")
        if self.mode == "embedded":
            problems.append("embedded mode (demo accounts, SQLite) is for development only")
        if problems:
            raise UnsafeConfiguration("refusing to start in production: " + "; ".join(problems))

    def database_url_for(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        if self.mode == "distributed":
            raise ValueError(f"P2KP_{service.upper()}_DATABASE_URL must be set in distributed mode")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{self.data_dir / service}.sqlite"
