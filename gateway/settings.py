"""The gateway's settings: one pydantic model read from command-line flags over `OPEN_ROUTER_*` env vars.

    settings = Settings.load(os.environ, port=9000)      # flags (non-None) win over the environment

A bad value raises `SettingsError` whose message is one line naming the setting and its source; the CLI
prints it and exits 2.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "OPEN_ROUTER_"


class SettingsError(ValueError):
    """A setting that cannot be used; str() is one line fit for stderr."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    policies: Path = Path("policies")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)  # 0: an ephemeral port (tests)
    db: str = "sqlite:///open-router.db"
    admin_key: str | None = None  # OPEN_ROUTER_ADMIN_KEY; unset: /admin/* answers 403
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    upstream_pool_size: int = Field(256, ge=1, le=100_000)  # connections per provider adapter
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    decision_log: bool = True  # one JSON line per request on the "open_router.decisions" logger
    key_cache_ttl: float = Field(1.0, ge=0, le=3600)  # seconds a key lookup is trusted (cross-process revoke lag)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("admin_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("db")
    @classmethod
    def _db_url(cls, v: str) -> str:
        if "://" not in v:
            raise ValueError("must be a database URL such as sqlite:///open-router.db or postgresql://host/db")
        return v

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """Settings from ``env`` (OPEN_ROUTER_<FIELD>) overridden by the non-None ``flags``."""
        values: dict[str, Any] = {}
        source: dict[str, str] = {}
        for name in cls.model_fields:
            var = ENV_PREFIX + name.upper()
            if env is not None and var in env:
                values[name] = env[var]
                source[name] = var
        for name, value in flags.items():
            if value is not None:
                values[name] = value
                source[name] = "--" + name.replace("_", "-")
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "?"
            where = source.get(name, name)
            shown = "<hidden>" if name == "admin_key" else repr(values.get(name))
            raise SettingsError(f"invalid setting {where}={shown}: {err['msg']}") from None

    def redacted(self) -> dict[str, Any]:
        out = self.model_dump(mode="json")
        out["admin_key"] = None if self.admin_key is None else "<set>"
        return out
