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

from .errors import GatewayError

ENV_PREFIX = "OPEN_ROUTER_"
MASK = "***"

# A URL's userinfo password, for what sqlalchemy cannot parse: from the first ':' after the user to the last
# '@' (a password may hold an unescaped '@'), after an optional scheme or a "//".
_USERINFO_RE = re.compile(r"((?:^[^:/@\s]*://|//|^)[^:/@\s]*):.*@")
_QUERY_PASSWORD_RE = re.compile(r"(?i)([?&](?:password|passwd|pwd)=)[^&\s]*")


def mask_url(url: str) -> str:
    """``url`` with its password masked, for anything a person or a log may see: sqlalchemy's rendering
    (``postgresql://u:***@host/db``), or a regex for what it cannot parse (a malformed setting) or would
    split wrongly (an unescaped '@' in the password). A password in the query string is masked too."""
    masked = None
    if url.count("@") <= 1:
        try:
            from sqlalchemy.engine import make_url

            masked = make_url(url).render_as_string(hide_password=True)
        except Exception:  # not a URL sqlalchemy parses
            masked = None
    if masked is None:
        masked = _USERINFO_RE.sub(rf"\1:{MASK}@", url)
    return _QUERY_PASSWORD_RE.sub(rf"\1{MASK}", masked)


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
            value = values.get(name)
            if name == "admin_key":
                shown = "<hidden>"
            elif name == "db" and isinstance(value, str):
                shown = repr(mask_url(value))
            else:
                shown = repr(value)
            raise SettingsError(f"invalid setting {where}={shown}: {err['msg']}") from None

    def redacted(self) -> dict[str, Any]:
        """The settings as JSON, fit to show: no admin key, no database password."""
        out = self.model_dump(mode="json")
        out["admin_key"] = None if self.admin_key is None else "<set>"
        out["db"] = mask_url(self.db)
        return out

    def __repr_args__(self) -> Any:  # repr() and str() hide the same
        for name, value in super().__repr_args__():
            if name == "db" and isinstance(value, str):
                value = mask_url(value)
            elif name == "admin_key" and value is not None:
                value = "<set>"
            yield name, value
