"""Secret shapes and masking: the one place that says what a credential looks like and how it is hidden.

The parser and the checker mask the policy source lines they show (`redact_line`); the facts builder drops
credential headers (`SECRET_HEADERS`); the gateway's own redactors (an adapter's error text, a database
URL, an upstream address) can call `mask_secrets`, `mask_url` and `drop_addresses` so that every part of
Open-Router agrees on what a secret is. Pure: `re` only, no I/O.

Two ways of hiding, both here because both are in use:

- `mask(secret)`: the first three characters of a long secret and "…" (nothing of a short one), for a
  reviewer who must recognise *which* key they pasted (policy diagnostics);
- a fixed `replacement` such as "***", for text a client or a log receives (`mask_secrets`).
"""
from __future__ import annotations

import re
from typing import Iterable

__all__ = [
    "ADDRESS", "CREDENTIAL_PARAMS", "KEY_SHAPES", "SECRET_HEADERS", "drop_addresses", "mask", "mask_key_shapes",
    "mask_secrets", "mask_url", "redact_line",
]

# Headers that carry credentials or session state: never facts, never logged, never a literal in a policy.
# (One set: the facts builder and the checker used to keep two that had drifted apart; this is their union.)
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "api-key", "x-api-key", "apikey", "x-goog-api-key",
    "anthropic-api-key", "openai-api-key", "ocp-apim-subscription-key", "x-auth-token", "cookie", "set-cookie",
})

# Values that are keys by their look alone, wherever they appear.
KEY_SHAPES = re.compile(
    r"sk-[A-Za-z0-9_\-]{6,}"          # OpenAI sk-..., sk-proj-..., Anthropic sk-ant-...
    r"|AIza[0-9A-Za-z_\-]{10,}"       # Google API keys
    r"|(?:ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{10,}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|AKIA[0-9A-Z]{12,}"
    r"|hf_[A-Za-z0-9]{10,}"
    r"|(?i:bearer|basic)\s+\S{6,}"
)

# URL query parameters whose value is a credential (matched case-insensitively).
CREDENTIAL_PARAMS = frozenset({"key", "api_key", "api-key", "apikey", "token", "access_token", "auth", "secret",
                               "password", "passwd", "pwd", "sig"})

# Credentials inside URLs: user:password@ and ?key=... (the parameter names above).
_URL_USERINFO = re.compile(r"(\w+://)([^/@\s\"]+)@")
# In one URL (not free text) the user info runs to the last "@" before the host: a password may hold an
# unescaped "@" (postgresql://u:p@ss@host/db).
# Also a malformed one a setting may hold (postgres//u:pw@h, u:pw@h).
_ONE_URL_USERINFO = re.compile(r"^([^:/@\s]*:?//|)([^/\s\"]*)@")
_URL_CREDENTIAL = re.compile(r"([?&](?i:" + "|".join(map(re.escape, sorted(CREDENTIAL_PARAMS))) + r")=)([^&#\s\"]+)")
_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_BEARER = re.compile(r"(bearer\s+)[^\s\"',]+", re.I)
_KEY_PARAM = re.compile(r"((?:api[-_]?)?key=)[^&\s\"']+", re.I)
_QUERY = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s?#\"']*)\?[^\s\"']*", re.I)

# An upstream address: a URL, a (host, port) pair as Python prints it, host:port, or an IPv4 address.
ADDRESS = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+|\('[^']*', \d+\)|\b[\w.-]+:\d{2,5}\b|\b\d{1,3}(?:\.\d{1,3}){3}\b",
                     re.I)


def mask(secret: str) -> str:
    """What a message or source line may show of a secret: three characters of a long one, nothing of a short."""
    return secret[:3] + "…" if len(secret) >= 12 else "…"


def mask_key_shapes(text: str) -> str:
    """``text`` with every key-shaped value `mask`ed."""
    return KEY_SHAPES.sub(lambda k: mask(k.group()), text)


def redact_line(line: str, secrets: Iterable[str] = ()) -> str:
    """A policy source line as a diagnostic may show it: the given literal secrets, key shapes and URL
    credentials `mask`ed inside its quoted strings (only there: a name outside quotes is never a secret, and
    a one-letter key must not eat every letter of the line)."""
    ordered = sorted((s for s in secrets if s), key=len, reverse=True)

    def one(m: re.Match[str]) -> str:
        body = m.group(1)
        for s in ordered:
            body = body.replace(s, mask(s))
        body = mask_key_shapes(body)
        body = _URL_USERINFO.sub(lambda k: k.group(1) + mask(k.group(2)) + "@", body)
        return '"' + _URL_CREDENTIAL.sub(lambda k: k.group(1) + mask(k.group(2)), body) + '"'

    return _STRING.sub(one, line)


def mask_secrets(text: str, known_values: Iterable[str] = (), *, replacement: str | None = "***",
                 min_length: int = 4, drop_queries: bool = False) -> str:
    """Free text (an upstream error, a log line) with its secrets replaced: the ``known_values`` (those of at
    least ``min_length`` characters: a short one would eat ordinary words), key shapes, bearer tokens,
    ``key=`` parameters, and the credentials inside URLs. ``replacement=None`` shows each as `mask` does;
    ``drop_queries`` cuts every URL's query string to "?…" (an upstream may put anything there)."""
    def hide(secret: str) -> str:
        return mask(secret) if replacement is None else replacement

    for value in sorted((v for v in known_values if v and len(v) >= min_length), key=len, reverse=True):
        text = text.replace(value, hide(value))
    if drop_queries:
        text = _QUERY.sub(lambda m: m.group(1) + "?…", text)
    text = _BEARER.sub(lambda m: m.group(1) + hide(m.group()[len(m.group(1)):]), text)
    text = KEY_SHAPES.sub(lambda m: hide(m.group()), text)
    text = _KEY_PARAM.sub(lambda m: m.group(1) + hide(m.group()[len(m.group(1)):]), text)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + hide(m.group(2)) + "@", text)
    return _URL_CREDENTIAL.sub(lambda m: m.group(1) + hide(m.group(2)), text)


def mask_url(url: str, replacement: str = "***") -> str:
    """``url`` with the password of its user:password@ part and any credential query parameter replaced
    (a user name alone stays: it names an account, it does not open it)."""
    def userinfo(m: re.Match[str]) -> str:
        user, sep, _ = m.group(2).partition(":")
        return m.group(1) + (user + ":" + replacement if sep else user) + "@"

    url = _ONE_URL_USERINFO.sub(userinfo, url)
    return _URL_CREDENTIAL.sub(lambda m: m.group(1) + replacement, url)


def drop_addresses(text: str, replacement: str = "<address>") -> str:
    """``text`` without upstream addresses (URLs, host:port, IPs), for what a client reads."""
    return ADDRESS.sub(replacement, text)
