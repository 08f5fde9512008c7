"""Settings common to every service; each service subclasses ``ServiceSettings`` once (its own URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Read from ``P2KP_*`` environment variables (and a ``.env`` file, if present)."""

    model_config = SettingsConfigDict(env_prefix="P2KP_", env_file=".env", extra="ignore")

    mode: Literal["embedded", "distributed"] = "embedded"
    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Per-service URL; unset in embedded mode means a SQLite file under data_dir.
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True

    def database_url_for(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        if self.mode == "distributed":
            raise ValueError(f"P2KP_{service.upper()}_DATABASE_URL must be set in distributed mode")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{self.data_dir / service}.sqlite"
