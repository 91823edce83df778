"""The OpenAI-compatible HTTP surface on Quart: GET /v1/models and /v1/models/{id}, and the paths of the
two hot routes.

GET /v1/models and /v1/models/{id} show a caller only the models its requests can be served by
(``Policy.models_for`` of its key's team, project, app, cost center and id): a model a route keeps for
another team is not listed, and asking for it is the same 404 as for a model that does not exist.

The two hot routes, POST /v1/chat/completions and /v1/embeddings, are answered on ASGI by
gateway/api/fast.py, around Quart's per-request machinery, through the pipeline (gateway/pipeline.py);
Quart only knows them (`register`) so that other methods on those paths still get its 405 and OPTIONS
answers.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Quart, Response, request

from ..auth import Principal
from ..errors import NotFound
from ..http import json_response

if TYPE_CHECKING:
    from ..context import Gateway

CHAT_ROUTE = "/v1/chat/completions"
EMBEDDINGS_ROUTE = "/v1/embeddings"


def register(app: Quart, gw: Gateway) -> None:
    async def served_by_fast_path() -> Response:
        raise RuntimeError("POST /v1/chat/completions and /v1/embeddings are answered by gateway.api.fast."
                           "FastPath, which create_app installs around the Quart app")

    # Never reached through the app (FastPath takes every request these rules match); registered so Quart
    # knows the paths and answers other methods on them with 405 + Allow, and OPTIONS, as for any route.
    for path in (CHAT_ROUTE, EMBEDDINGS_ROUTE):
        app.add_url_rule(path, "fast:" + path, served_by_fast_path, methods=["POST"])

    def model_obj(alias: str, m: Any, created: int) -> dict[str, Any]:
        return {"id": alias, "object": "model", "created": created, "owned_by": m.provider}

    def visible(policy: Any, p: Principal) -> tuple[str, ...]:
        """The aliases this caller's requests can be served by (the policy's routes for its key), in
        declaration order; cached per principal by the policy."""
        return policy.models_for(team=p.team, project=p.project, app=p.app, cost_center=p.cost_center,
                                 key=p.key_id)

    @app.get("/v1/models")
    async def list_models() -> Response:
        principal = await gw.auth.authenticate(request.headers)
        snap = gw.policies.current
        policy, created = snap.policy, int(snap.loaded_at)
        data = [model_obj(alias, policy.models[alias], created) for alias in visible(policy, principal)]
        return json_response({"object": "list", "data": data})

    @app.get("/v1/models/<path:model_id>")
    async def get_model(model_id: str) -> Response:
        principal = await gw.auth.authenticate(request.headers)
        snap = gw.policies.current
        policy = snap.policy
        m = policy.models.get(model_id)
        if m is None or model_id not in visible(policy, principal):
            raise NotFound(f"The model '{model_id}' does not exist or you do not have access to it.",
                           param="model", code="model_not_found")
        return json_response(model_obj(model_id, m, int(snap.loaded_at)))
