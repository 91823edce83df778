"""The error tree: one root, each error's status, and a cheap `import gateway`."""
from __future__ import annotations

import subprocess
import sys

from gateway.keys import KeyStoreError


def test_error_roots_and_statuses() -> None:
    import gateway
    from gateway.errors import GatewayError
    from gateway.keys import KeyStoreUnavailable
    from gateway.settings import SettingsError

    assert gateway.GatewayError is GatewayError
    assert issubclass(KeyStoreError, GatewayError) and KeyStoreError("x").status == 400
    assert issubclass(KeyStoreUnavailable, KeyStoreError) and KeyStoreUnavailable().status == 503
    assert issubclass(SettingsError, GatewayError) and issubclass(SettingsError, ValueError)
    assert SettingsError("bad").status == 500 and str(SettingsError("bad")) == "bad"
    from gateway.app import create_app

    assert gateway.create_app is create_app
    r = subprocess.run([sys.executable, "-c", "import sys, gateway, gateway.api; "
                        "print(sorted(m for m in ('quart', 'sqlalchemy', 'hypercorn', 'dsl') if m in sys.modules))"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"  # `import gateway` stays cheap
    import gateway.api

    assert gateway.__doc__ and gateway.api.__doc__


def test_attempts_are_declared_on_every_gateway_error() -> None:
    from gateway.errors import GatewayError, InvalidRequest, UpstreamError

    assert GatewayError("x").attempts == () and InvalidRequest("x").attempts == ()
    err = UpstreamError("y")
    err.attempts = ("one",)
    assert err.attempts == ("one",) and UpstreamError("z").attempts == ()
