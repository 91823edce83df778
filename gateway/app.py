"""`create_app(settings)`: wires the policy, key store, health board, adapters, executor and metrics into a
Quart app. Wiring only: request handling lives in gateway/api/.

Everything a request needs hangs off one `Gateway` object, kept in ``app.extensions["open_router"]`` and
bound into the route closures at registration (no module-level state, no per-request lookups).
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from quart import Quart, Response, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound as HTTPNotFound, RequestEntityTooLarge

import dsl
from dsl.ast import Provider

from .auth import Authenticator
from .errors import GatewayError, InternalError, NotFound, PayloadTooLarge
from .facts import FactsBuilder, load_classifier
from .health import HealthBoard
from .keys import KeyStore
from .observe import DecisionLog, Metrics
from .providers.base import Adapter, make_adapter
from .router import Executor
from .settings import Settings

log = logging.getLogger("open_router.app")

REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
JSON = "application/json"
BODY_TIMEOUT = 60  # seconds a client has to send its request body (then 408)
DRAIN_TIMEOUT = 5.0  # seconds spent taking in the rest of a body before answering an error


@dataclass
class PolicyHolder:
    """The compiled policy being served. ``swap`` replaces it atomically (one attribute store), so a
    request that already read ``.policy`` finishes on the version that decided it."""

    policy: Any  # dsl.tree.Policy
    files: list[str]
    loaded_at: float = field(default_factory=time.time)
    last_error: str | None = None
    warnings: list[str] = field(default_factory=list)  # the checker's, on the policy alone
    policy_set: Any = None  # dsl.PolicySet the policy was compiled from (for checks against the key store)
    subject_warnings: list[str] = field(default_factory=list)  # W192s against the keys, as of startup

    @property
    def version(self) -> str:
        return self.policy.version

    def swap(self, new: Any, files: list[str] | None = None) -> None:
        self.policy = new
        if files is not None:
            self.files = files
        self.loaded_at = time.time()
        self.last_error = None


def load_policy_dir(directory: Path | str) -> PolicyHolder:
    """Parse, check and compile a policy directory (its top-level *.policy files, in name order) or file.
    Raises dsl.PolicyError, whose diagnostics say what and where."""
    from dsl.syntax import policy_paths

    files = policy_paths([directory])
    # The parsed files stay with the policy for the check of budgets against the key store
    # (budget_subject_warnings).
    ps, policy, warnings = dsl.load_policy_set(files)
    return PolicyHolder(policy, [str(f) for f in files], warnings=[w.headline() for w in warnings],
                        policy_set=ps)


def budget_subject_warnings(holder: PolicyHolder, subjects: Mapping[str, set[str]]) -> list[str]:
    """W192 headlines: the policy's budgets and limits for a team, project, app, cost center or key that
    none of the active keys (``subjects``: KeyStore.subjects()) carries — a typo, or a key not made yet."""
    if holder.policy_set is None:
        return []
    from dsl.check import check_budget_subjects

    return [d.headline() for d in check_budget_subjects(holder.policy_set, subjects)]


class AdapterPool:
    """One adapter per provider of the served policy, made on first use; a provider whose declaration
    changed (after a reload) gets a fresh adapter, and the old one is closed at shutdown."""

    def __init__(self, holder: PolicyHolder, env: Mapping[str, str], pool_size: int) -> None:
        self.holder = holder
        self.env = env
        self.pool_size = pool_size
        self._live: dict[str, tuple[Provider, Adapter]] = {}
        self._retired: list[Adapter] = []

    def __call__(self, name: str) -> Adapter:
        provider = self.holder.policy.providers[name]  # KeyError → the executor's "no adapter" error
        entry = self._live.get(name)
        if entry is not None and entry[0] is provider:
            return entry[1]
        if entry is not None:
            self._retired.append(entry[1])
        adapter = make_adapter(provider, self.env, limit=self.pool_size)
        self._live[name] = (provider, adapter)
        return adapter

    def warm(self) -> None:
        for name in self.holder.policy.providers:
            self(name)

    async def aclose(self) -> None:
        adapters = [a for _, a in self._live.values()] + self._retired
        self._live.clear()
        self._retired.clear()
        for adapter in adapters:
            try:
                await adapter.aclose()
            except Exception:  # closing must go on for the others
                log.exception("closing adapter %r failed", adapter)


@dataclass
class Gateway:
    """What requests need: the parts create_app wires together."""

    settings: Settings
    policies: PolicyHolder
    keys: KeyStore
    auth: Authenticator
    health: HealthBoard
    adapters: AdapterPool
    executor: Executor
    metrics: Metrics
    decisions: DecisionLog
    facts: FactsBuilder


def new_request_id(incoming: str | None) -> str:
    """A sane incoming x-request-id, or a new id."""
    return incoming if incoming and REQUEST_ID_RE.fullmatch(incoming) else "req_" + secrets.token_hex(12)


def request_id() -> str:
    """The Quart request's id (set once per request)."""
    rid = g.get("request_id")
    if rid is None:
        rid = g.request_id = new_request_id(request.headers.get("x-request-id"))
    return rid


def error_headers(err: GatewayError) -> list[tuple[str, str]]:
    """What an error response carries besides its JSON content type and length."""
    h: list[tuple[str, str]] = []
    if err.status == 413:
        # The rest of the body is never read, so the connection cannot carry another request: say so,
        # or a client reusing it would see a dropped connection instead of an answer.
        h.append(("connection", "close"))
    h.extend(err.headers().items())
    return h


def error_response(err: GatewayError) -> Response:
    from .api.openai import dumps

    resp = Response(dumps(err.body()), status=err.status, content_type=JSON)
    for k, v in error_headers(err):
        resp.headers[k] = v
    return resp


def http_error(exc: HTTPException, method: str, path: str, max_body: int) -> GatewayError:
    """The OpenAI-shaped error for a werkzeug HTTP exception (unknown URL, wrong method, 413, 408, ...)."""
    if isinstance(exc, HTTPNotFound):
        return NotFound(f"Unknown request URL: {method} {path}. Please check the URL and method.",
                        code="unknown_url")
    if isinstance(exc, MethodNotAllowed):
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        return GatewayError(f"Method {method} is not allowed for {path} (allowed: {allowed}).", status=405,
                            type="invalid_request_error", code="method_not_allowed")
    if isinstance(exc, RequestEntityTooLarge):
        return PayloadTooLarge.over(max_body)
    status = exc.code or 500
    return GatewayError(exc.description or exc.name, status=status,
                        type="invalid_request_error" if status < 500 else "server_error",
                        code=exc.name.lower().replace(" ", "_"))


def internal_error(exc: BaseException, method: str, path: str, rid: str) -> InternalError:
    """Log an unexpected exception with its traceback; the opaque 500 to answer with."""
    log.error("unhandled error in %s %s (request %s)", method, path, rid, exc_info=exc, extra={"request_id": rid})
    return InternalError(f"The gateway hit an internal error; quote request id {rid} when reporting it.")


def create_app(settings: Settings, *, env: Mapping[str, str] | None = None,
               holder: PolicyHolder | None = None, keys: KeyStore | None = None) -> Quart:
    """The gateway app. Raises dsl.PolicyError when the policy does not load (the CLI reports it), and
    KeyStoreUnavailable when the key database cannot be read (its subjects are checked against the
    policy's budgets and limits: ``holder.subject_warnings``)."""
    from .api import admin, openai as openai_api, ws
    from .api.fast import FastPath

    holder = holder or load_policy_dir(Path(settings.policies))
    env = os.environ if env is None else env
    keys = keys or KeyStore(settings.db, ttl=settings.key_cache_ttl)
    holder.subject_warnings = budget_subject_warnings(holder, keys.subjects())
    health = HealthBoard()
    adapters = AdapterPool(holder, env, settings.upstream_pool_size)
    gw = Gateway(
        settings=settings, policies=holder, keys=keys, auth=Authenticator(keys), health=health,
        adapters=adapters, executor=Executor(adapters, health), metrics=Metrics(),
        decisions=DecisionLog(settings.decision_log), facts=FactsBuilder(load_classifier()),
    )

    app = Quart("open_router")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["RESPONSE_TIMEOUT"] = None  # streams last as long as the upstream keeps sending
    app.config["BODY_TIMEOUT"] = BODY_TIMEOUT
    app.extensions["open_router"] = gw

    @app.before_request
    async def _begin() -> None:
        request_id()

    @app.after_request
    async def _stamp(resp: Response) -> Response:
        h = resp.headers
        h["x-request-id"] = request_id()
        h["x-open-router-policy"] = holder.version
        return resp

    async def drain() -> None:
        """Take in the rest of a request body before answering an error: Hypercorn closes a keep-alive
        connection whose request body was not fully received, and the client's next request on it fails."""
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        try:
            await asyncio.wait_for(request.get_data(cache=False), DRAIN_TIMEOUT)
        except Exception:  # too large, too slow, or already gone: the connection closes anyway
            pass

    @app.errorhandler(GatewayError)
    async def _gateway_error(err: GatewayError) -> Response:
        if err.status != 413:
            await drain()
        return error_response(err)

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response:
        err = http_error(exc, request.method, request.path, settings.max_body_bytes)
        if not isinstance(exc, RequestEntityTooLarge):
            await drain()
        resp = error_response(err)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            resp.headers["allow"] = ", ".join(sorted(exc.valid_methods))
        return resp

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Response:
        return error_response(internal_error(exc, request.method, request.path, request_id()))

    @app.get("/healthz")
    async def _healthz() -> Response:
        return Response(b'{"status":"ok"}', content_type=JSON)

    @app.get("/metrics")
    async def _metrics() -> Response:
        return Response(gw.metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")

    openai_api.register(app, gw)
    admin.register(app, gw)
    ws.register(app, gw)
    # POST /v1/chat/completions and /v1/embeddings are answered on ASGI, around Quart (gateway/api/fast.py).
    app.asgi_app = FastPath(app.asgi_app, gw)  # type: ignore[method-assign]

    @app.before_serving
    async def _startup() -> None:
        adapters.warm()

    @app.after_serving
    async def _shutdown() -> None:
        await adapters.aclose()
        keys.close()

    return app
