"""Open-Router's gateway: the OpenAI-compatible HTTP and WebSocket server over a compiled policy.

    from gateway import GatewayError        # the root of every error the gateway answers with
    from gateway import create_app          # the Quart app (imported on first use: `import gateway` is cheap)

Errors have one root, `GatewayError` (gateway/errors.py), each knowing its HTTP status and OpenAI error
shape; the key store's (`gateway.keys.KeyStoreError`, 400; `KeyStoreUnavailable`, 503) and the settings'
(`gateway.settings.SettingsError`, raised before anything serves) derive from it too.

Layout: app.py wires the parts into a `Gateway` (context.py); pipeline.py is the one request pipeline
every surface calls (auth → validate → facts → decide → admit → execute → relay), record.py the one
recording step; policy.py the policy snapshots; http.py what the HTTP surfaces share; api/ the HTTP and
WebSocket surfaces; keys.py and auth.py virtual keys; router.py the executor (retries, failover);
providers/ the upstream adapters and their registry; settings.py, server_cli.py and cli.py the
`open-router` command.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import GatewayError

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["GatewayError", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":  # lazily: it pulls in Quart, SQLAlchemy, the policy compiler and the adapters
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
