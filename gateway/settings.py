"""The gateway's settings: one pydantic model read from command-line flags over `OPEN_ROUTER_*` env vars.

    settings = Settings.load(os.environ, port=9000)      # flags (non-None) win over the environment

A bad value raises `SettingsError` whose message is one line naming the setting and its source; the CLI
prints it and exits 2. The database URL's password is never shown: `mask_url` masks it in messages,
`redacted()` and repr().
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dsl.secrets import mask_url as secrets_mask_url

from .errors import GatewayError

ENV_PREFIX = "OPEN_ROUTER_"
MASK = "***"

# A URL's userinfo password, for what sqlalchemy cannot parse: from the first ':' after the user to the last
# '@' (a password may hold an unescaped '@'), after an optional scheme or a "//".
_USERINFO_RE = re.compile(r"((?:^[^:/@\s]*://|//|^)[^:/@\s]*):.*@")


def mask_url(url: str) -> str:
    """``url`` with its password masked, for anything a person or a log may see: sqlalchemy's rendering
    (``postgresql://u:***@host/db``) where it parses the URL, and dsl.secrets.mask_url (the one masking
    of URL credentials: user:password@, also with an unescaped '@' in the password, and password query
    parameters) on top, and alone for what sqlalchemy cannot parse or would split wrongly."""
    masked = url
    if url.count("@") <= 1:
        try:
            from sqlalchemy.engine import make_url

            masked = make_url(url).render_as_string(hide_password=True)
        except Exception:  # not a URL sqlalchemy parses
            masked = url
    return secrets_mask_url(masked, MASK)


def scrub(text: str, url: str) -> str:
    """``text`` (an error message from a driver, say) with ``url`` masked and its password nowhere."""
    text = text.replace(url, mask_url(url))
    for secret in _passwords(url):
        text = text.replace(secret, MASK)
    return text


def _passwords(url: str) -> Iterable[str]:
    found: set[str] = set()
    try:
        from sqlalchemy.engine import make_url

        pw = make_url(url).password
        if pw:
            found.add(str(pw))
    except Exception:
        pass
    m = _USERINFO_RE.search(url)
    if m:
        found.add(m.group(0)[len(m.group(1)) + 1:-1])
    found.update(q.split("=", 1)[1] for q in re.findall(r"(?i)[?&](?:password|passwd|pwd)=[^&\s]*", url))
    return sorted((p for p in found if len(p) >= 3), key=len, reverse=True)  # longest first


class SettingsError(GatewayError, ValueError):
    """A setting that cannot be used; str() is one line fit for stderr. Raised before anything serves, so it
    never reaches HTTP (its status, 500, says "the gateway is misconfigured" should one ever be answered);
    still a ValueError, as it always was."""

    code = "invalid_setting"


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
    ledger: bool = True  # one row per request in the database (gateway/billing/ledger.py)
    ledger_flush_ms: int = Field(250, ge=1, le=60_000)  # what a kill -9 can lose, at most
    ledger_spill_dir: Path | None = None  # default: open-router-spill/ beside a SQLite file, else ./
    # Budgets and rate limits (gateway/limits): where the counters live, and what happens when they can't be reached.
    redis: str | None = None  # redis://host:port/db: counters shared by replicas
    redis_prefix: str = "open-router:"  # every key the gateway writes in Redis starts with this
    workers: int = Field(1, ge=1, le=256)  # processes sharing the port (counters in a SQLite file without Redis)
    limits_store: Literal["auto", "memory", "shm", "sqlite", "redis"] = "auto"  # auto: redis if set, shm if workers > 1
    limits_path: str | None = None  # the counter file (default: beside a SQLite db, else ./open-router-limits.{shm,db})
    budget_fail_open: bool = False  # store down: admit unbudgeted (counted) instead of 503 budget_store_unavailable
    default_completion_cap: int = Field(4096, ge=1)  # completion tokens reserved when a request sets no max_tokens
    reservation_ttl: float = Field(900.0, gt=0)  # seconds before a reservation whose request vanished is dropped
    alert_webhook: str | None = None  # OPEN_ROUTER_ALERT_WEBHOOK: budget alerts are POSTed here (a secret)
    model_alerts: str | None = None  # OPEN_ROUTER_MODEL_ALERTS: "error_rate > 0.2 over 60s; p95 > 2s; circuit open"
    model_alert_interval: float = Field(5.0, gt=0, le=3600)  # seconds between evaluations (gateway/model_alerts.py)
    # Operations (gateway/reload.py, gateway/lifecycle.py, gateway/observe.py)
    watch: bool = True  # reload the policy directory when it changes (serve --no-watch: off)
    reload_debounce: float = Field(0.2, ge=0.0, le=60)  # seconds of quiet before a changed set is read
    drain_timeout: float = Field(30.0, ge=0, le=3600)  # SIGTERM: seconds in-flight requests get to finish
    strict: bool = False  # a provider whose env() key is unset is fatal at start, not a warning
    log_content: bool = False  # prompt and completion text in the decision log (redacted)
    decision_log_file: Path | None = None  # unset: decision lines on stdout; set: a size-rotated file
    decision_log_max_bytes: int = Field(100 * 1024 * 1024, ge=1024)
    decision_log_backups: int = Field(5, ge=0, le=1000)  # rotated files kept

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("redis", "alert_webhook", "limits_path", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("model_alerts")
    @classmethod
    def _model_alerts(cls, v: str | None) -> str | None:
        from .model_alerts import parse_rules

        parse_rules(v)  # ValueError names the rule that does not parse
        return v

    @field_validator("redis")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a Redis URL such as redis://127.0.0.1:6379/0")
        return v

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

    def spill_dir(self) -> Path:
        """Where the ledger spills rows while the database is away."""
        if self.ledger_spill_dir is not None:
            return self.ledger_spill_dir
        if self.db.startswith("sqlite:///") and self.db != "sqlite:///:memory:":
            return Path(self.db[len("sqlite:///"):]).parent / "open-router-spill"
        return Path("open-router-spill")

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
            value = values.get(name)
            if name in ("admin_key", "alert_webhook"):
                shown = "<hidden>"
            elif name in ("db", "redis") and isinstance(value, str):
                shown = repr(mask_url(value))
            else:
                shown = repr(value)
            raise SettingsError(f"invalid setting {where}={shown}: {err['msg']}") from None

    def redacted(self) -> dict[str, Any]:
        """The settings as JSON, fit to show: no admin key, no database password."""
        out = self.model_dump(mode="json")
        out["admin_key"] = None if self.admin_key is None else "<set>"
        out["db"] = mask_url(self.db)
        out["redis"] = None if self.redis is None else mask_url(self.redis)
        out["alert_webhook"] = None if self.alert_webhook is None else "<set>"
        return out

    def __repr_args__(self) -> Any:  # repr() and str() hide the same
        for name, value in super().__repr_args__():
            if name in ("db", "redis") and isinstance(value, str):
                value = mask_url(value)
            elif name in ("admin_key", "alert_webhook") and value is not None:
                value = "<set>"
            yield name, value
