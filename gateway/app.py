"""`create_app(settings)`: wires the policy snapshot store, key store, health board, executor, admission,
recorder, pipeline and metrics into a Quart app. Wiring only: request handling lives in gateway/api/ and
gateway/pipeline.py, shared HTTP helpers in gateway/http.py, the Gateway object in gateway/context.py.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Mapping

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from . import protocol_errors
from .admission import Admission
from .auth import Authenticator
from .billing.ledger import Ledger
from .context import Gateway
from .errors import GatewayError
from .facts import FactsBuilder, load_classifier
from .health import HealthBoard
from .ramp_guard import RampGuards
from .strategies import completion_settler
from .http import (BODY_TIMEOUT, DRAIN_TIMEOUT, JSON, error_response, http_error, internal_error, json_response,
                   request_id)
from .keys import KeyStore
from .lifecycle import CountingQuart, Lifecycle
from .observe import DecisionLog, Metrics
from .pipeline import Pipeline
from .policy import LoadedPolicy, PolicyStore, budget_subject_warnings, load_policy_dir
from .record import Recorder
from .reload import Reloader
from .router import Executor
from .settings import Settings

__all__ = ["create_app", "load_policy_dir"]


def create_app(settings: Settings, *, env: Mapping[str, str] | None = None,
               policy: LoadedPolicy | None = None, keys: KeyStore | None = None,
               admission: Admission | None = None) -> Quart:
    """The gateway app. Raises dsl.PolicyError when the policy does not load (the CLI reports it), and
    KeyStoreUnavailable when the key database cannot be read (its subjects are checked against the
    policy's budgets and limits: ``gw.policies.subject_warnings``)."""
    from .api import admin, budgets, experiments, usage, v1, ws
    from .api.fast import FastPath

    loaded = policy or load_policy_dir(Path(settings.policies))
    env = os.environ if env is None else env
    keys = keys or KeyStore(settings.db, ttl=settings.key_cache_ttl)
    store = PolicyStore(loaded.with_adapters(env, settings.upstream_pool_size))
    store.subject_warnings = budget_subject_warnings(loaded, keys.subjects())
    health = HealthBoard()
    metrics, decisions = Metrics(), DecisionLog(settings.decision_log)
    if admission is None:
        from .limits import from_settings

        admission = from_settings(settings)
    extra = getattr(admission, "metrics", None)
    if extra is not None:
        metrics.extra.append(extra)
    settlers = [admission.settle, completion_settler(health)]
    ledger = None
    if settings.ledger:
        ledger = Ledger(keys.engine, settings.spill_dir(), flush_interval=settings.ledger_flush_ms / 1000)
        settlers.append(ledger.record)
    lifecycle = Lifecycle()
    gw = Gateway(
        settings=settings, policies=store, keys=keys, auth=Authenticator(keys), health=health,
        executor=Executor(None, health), metrics=metrics, decisions=decisions,
        facts=FactsBuilder(load_classifier()), admission=admission,
        recorder=Recorder(metrics, decisions, store, settlers), ledger=ledger, lifecycle=lifecycle,
    )
    gw.recorder.log_content = settings.log_content
    gw.ramp_guards = RampGuards(health)
    gw.ramp_guards.metrics = metrics
    gw.pipeline = Pipeline(gw)
    reloader = gw.reloader = Reloader(store, settings.policies, env=env, pool_size=settings.upstream_pool_size,
                                      keys=keys, debounce=settings.reload_debounce)
    reloader.prime()
    reloader.listeners.append(metrics.reloaded)
    if getattr(keys, "engine", None) is not None:
        from .audit import AuditLog, policy_listener

        gw.audit = AuditLog(keys.engine)
        reloader.listeners.append(policy_listener(gw.audit))
    metrics.bind(gw)
    from .model_alerts import ModelAlerts, parse_rules

    sender = getattr(admission, "alerts", None)
    if sender is None:
        from .alerts import AlertSender

        sender = AlertSender(settings.alert_webhook)
    gw.model_alerts = ModelAlerts(health, parse_rules(settings.model_alerts), sender,
                                  interval=settings.model_alert_interval, registry=metrics.registry)

    app = CountingQuart("open_router")
    app.lifecycle = lifecycle
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
        h["x-open-router-policy"] = store.version
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

    @app.get("/readyz")
    async def _readyz() -> Response:
        ok, checks = await lifecycle.readiness(keys, admission)
        body = {"status": "ready" if ok else "not_ready", **checks, "policy": store.version}
        return json_response(body, status=200 if ok else 503)

    @app.get("/metrics")
    async def _metrics() -> Response:
        return Response(gw.metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")

    v1.register(app, gw)
    admin.register(app, gw)
    usage.register(app, gw)
    experiments.register(app, gw)
    budgets.register(app, gw)
    ws.register(app, gw)
    # POST /v1/chat/completions and /v1/embeddings are answered on ASGI, around Quart (gateway/api/fast.py).
    app.asgi_app = FastPath(app.asgi_app, gw)  # type: ignore[method-assign]
    protocol_errors.install()  # Hypercorn's own 400/431 answers get OpenAI's JSON body (gateway/protocol_errors.py)

    @app.before_serving
    async def _startup() -> None:
        if ledger is not None:
            await ledger.start()

    @app.before_serving
    async def _serving() -> None:
        lifecycle.ready()
        if gw.audit is not None:
            snap = store.current
            gw.audit.add_soon("reload:start", "policy.activated", snap.version,
                              {"files": reloader.status()["files"], "previous": None})
        if settings.watch:
            reloader.start()
        gw.model_alerts.start()

    @app.after_serving
    async def _shutdown() -> None:
        await reloader.stop()
        await gw.model_alerts.stop()
        if ledger is not None:
            await ledger.aclose()  # every recorded request reaches the database or a spill file
        if gw.audit is not None:
            await gw.audit.flush()
        await store.aclose()
        closing = getattr(admission, "aclose", None)
        if closing is not None:
            await closing()
        keys.close()

    return app
