"""Access: a request's virtual key (``Authorization: Bearer`` or Azure-style ``api-key``) → Principal.

Missing, malformed, unknown or revoked keys all raise `AuthError` (401); the message never echoes the key.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Mapping

from .errors import AuthError, PermissionDenied
from .keys import KeyRecord, KeyStore

MISSING = ("You didn't provide an API key. Provide your virtual key as 'Authorization: Bearer <key>' "
           "(or in an 'api-key' header).")
INVALID = "Incorrect API key provided. Check the virtual key, or ask your gateway admin for a new one."


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id (never its secret) and the attribution it carries."""

    key_id: str
    team: str
    project: str | None = None
    app: str | None = None
    cost_center: str | None = None

    @classmethod
    def of(cls, rec: KeyRecord) -> Principal:
        return cls(rec.id, rec.team, rec.project, rec.app, rec.cost_center)


def token_from(headers: Mapping[str, str]) -> str | None:
    """The key a client sent, or None. ``headers`` is case-insensitive (werkzeug Headers)."""
    value = headers.get("authorization")
    if value:
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return ""  # present but not a Bearer token: invalid, not missing
    value = headers.get("api-key")
    if value is not None:
        return value.strip()
    return None


class Authenticator:
    """Resolves tokens through the key store; kept per app so tests can build one over any store."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._principals: dict[str, Principal] = {}  # key id → Principal, so a cache hit allocates nothing

    async def principal(self, token: str | None) -> Principal:
        if token is None:
            raise AuthError(MISSING)
        rec = await self.store.lookup_async(token) if token else None
        if rec is None:
            raise AuthError(INVALID)
        p = self._principals.get(rec.id)
        if p is None or p.team != rec.team or p.project != rec.project or p.app != rec.app \
                or p.cost_center != rec.cost_center:
            if len(self._principals) > 50_000:
                self._principals.clear()
            p = self._principals[rec.id] = Principal.of(rec)
        return p

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        return await self.principal(token_from(headers))


def check_admin(headers: Mapping[str, str], admin_key: str | None) -> None:
    """Guard for /admin/*: 403 when the admin API is disabled, 401 on a missing or wrong admin key."""
    if not admin_key:
        raise PermissionDenied("admin API disabled: set OPEN_ROUTER_ADMIN_KEY to enable it",
                               code="admin_disabled")
    token = token_from(headers)
    if token is None:
        raise AuthError("The admin API needs the admin key as 'Authorization: Bearer <key>'.")
    if not hmac.compare_digest(token.encode(), admin_key.encode()):
        raise AuthError("Incorrect admin key provided.")
