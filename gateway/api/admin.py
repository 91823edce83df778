"""The admin API, guarded by OPEN_ROUTER_ADMIN_KEY as a Bearer token (unset: every /admin/* answers 403).

    POST   /admin/keys            {"team", "project"?, "app"?, "cost_center"?} → 201, the secret (only here)
    GET    /admin/keys            every key (never a secret)
    DELETE /admin/keys/<key_id>   revoke; takes effect in this process at once
    GET    /admin/policy          this worker's pid and active version, loaded_at, files with hashes,
                                  warnings (the checker's, W192 for a budget or limit no active key
                                  carries, a provider whose env() key is unset), and "reload": watching?,
                                  the last attempt, the last rejection with its diagnostics, the history
    POST   /admin/policy/reload   reload now (as SIGHUP does): 200 with the attempt when activated or
                                  unchanged, 422 policy_rejected (the attempt beside the error) when not
    GET    /admin/audit           the audit trail, newest first: ?action=key.create|policy.*&actor=&subject=
                                  &since=ISO&until=ISO&limit=&before_id= (nothing alters it)
    GET    /admin/models/status   live latency / error rate / in-flight / circuit per model (HealthBoard)
    GET    /admin/usage           usage per group from the ledger (gateway/api/usage.py)

Key-store calls are synchronous SQL; they run in a worker thread so the event loop keeps serving.
"""
from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from quart import Quart, Response, request

from ..policy import budget_subject_warnings
from ..audit import fingerprint
from ..auth import check_admin
from ..errors import GatewayError, InvalidRequest, NotFound
from ..keys import KeyStoreError, KeyStoreUnavailable
from ..schema import parse_json
from ..http import json_response, read_body

if TYPE_CHECKING:
    from ..context import Gateway

KEY_FIELDS = ("team", "project", "app", "cost_center")


def _key_fields(body: dict[str, Any]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in KEY_FIELDS:
        value = body.get(name)
        if value is None:
            if name == "team":
                raise InvalidRequest("Missing required parameter: 'team'.", param="team",
                                     code="missing_required_parameter")
            out[name] = None
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise InvalidRequest(f"Invalid value for '{name}': expected a non-empty string of at most 200 "
                                 f"characters.", param=name, code="invalid_value")
        out[name] = value.strip()
    unknown = sorted(set(body) - set(KEY_FIELDS))
    if unknown:
        raise InvalidRequest(f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0],
                             code="unknown_parameter")
    return out


def register(app: Quart, gw: Gateway) -> None:
    settings = gw.settings
    store = gw.keys

    def guard() -> None:
        check_admin(request.headers, settings.admin_key)

    actor = fingerprint(settings.admin_key)  # the only credential that passes guard(); never the key itself

    async def audit(action: str, subject: str | None, details: dict[str, Any]) -> None:
        if gw.audit is not None:
            await gw.audit.add(actor, action, subject, details)

    @app.post("/admin/keys")
    async def create_key() -> Response:
        raw = await read_body(64 * 1024)
        guard()
        fields = _key_fields(parse_json(raw))
        try:
            record, secret = await asyncio.to_thread(store.create, **fields)
        except KeyStoreUnavailable:
            raise
        except KeyStoreError as exc:
            raise InvalidRequest(str(exc)) from None
        await audit("key.create", record.id, {k: v for k, v in fields.items() if v is not None})
        return json_response({**record.as_json(), "key": secret}, status=201)

    @app.get("/admin/keys")
    async def list_keys() -> Response:
        guard()
        records = await asyncio.to_thread(store.list)
        return json_response({"object": "list", "data": [r.as_json() for r in records]})

    @app.delete("/admin/keys/<key_id>")
    async def revoke_key(key_id: str) -> Response:
        guard()
        try:
            record = await asyncio.to_thread(store.revoke, key_id)
        except KeyStoreUnavailable:
            raise
        except KeyStoreError:
            raise NotFound(f"No key with id '{key_id}'.", param="key_id", code="key_not_found") from None
        store.evict(key_id)  # again on the loop thread: a lookup may have re-cached it meanwhile
        await audit("key.revoke", record.id, {"team": record.team})
        return json_response({**record.as_json(), "revoked": True})

    @app.get("/admin/policy")
    async def policy_status() -> Response:
        guard()
        policies = gw.policies
        snap = policies.current
        policy = snap.policy
        try:  # against the keys as they are now: a key made since startup settles its W192
            subjects = await asyncio.to_thread(store.subjects)
            subject_warnings = budget_subject_warnings(snap, subjects)
        except KeyStoreUnavailable:
            subject_warnings = policies.subject_warnings
        reloader = gw.reloader
        return json_response({
            "worker_pid": os.getpid(),
            "version": snap.version,
            "files": list(snap.files),
            "loaded_at": int(snap.loaded_at),
            "reload": reloader.status(),
            "last_reload_error": policies.last_error,  # the last rejection's text; null once one activates
            "warnings": [*snap.warnings, *subject_warnings, *reloader.key_warnings],
            "models": sorted(policy.models),
            "providers": sorted(policy.providers),
            "routes": [r.name for r in policy.routes],
            # Guarded ramps and whether their guard holds them at the old model (gateway/ramp_guard.py).
            "ramp_guards": gw.ramp_guards.snapshot(policy) if gw.ramp_guards is not None else [],
        })

    @app.post("/admin/policy/reload")
    async def policy_reload() -> Response:
        await read_body(64 * 1024)
        guard()
        attempt = await gw.reloader.reload("admin")
        await audit("policy.reload", attempt.version, {"outcome": attempt.outcome})
        out = attempt.as_json()
        if attempt.outcome == "rejected":
            err = GatewayError(f"The policy was rejected; still serving {attempt.version}. {attempt.error}",
                               status=422, type="invalid_request_error", code="policy_rejected")
            return json_response({**err.body(), "reload": out}, status=422)
        return json_response({"reload": out, "version": gw.policies.version})

    @app.get("/admin/audit")
    async def audit_log() -> Response:
        guard()
        if gw.audit is None:
            raise GatewayError("This gateway has no audit log.", status=501, code="not_implemented")
        args = request.args
        try:
            limit = int(args.get("limit", "100"))
            before = int(args["before_id"]) if "before_id" in args else None
        except ValueError:
            raise InvalidRequest("limit and before_id must be whole numbers.", param="limit") from None
        rows = await asyncio.to_thread(gw.audit.query, action=args.get("action"), actor=args.get("actor"),
                                       subject=args.get("subject"), since=args.get("since"),
                                       until=args.get("until"), limit=limit, before_id=before)
        return json_response({"object": "list", "data": rows})

    @app.get("/admin/models/status")
    async def models_status() -> Response:
        guard()
        return json_response({"object": "list", "data": gw.health.snapshot()})
