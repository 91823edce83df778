"""The `Gateway` a request sees: the parts create_app (gateway/app.py) wires together, in one object.

Everything a request needs hangs off it (no module-level state); the surfaces in gateway/api/ receive it
at registration and bind what they use into their closures.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .admission import Admission
    from .auth import Authenticator
    from .billing.ledger import Ledger
    from .facts import FactsBuilder
    from .health import HealthBoard
    from .keys import KeyStore
    from .lifecycle import Lifecycle
    from .observe import DecisionLog, Metrics
    from .pipeline import Pipeline
    from .policy import PolicyStore
    from .record import Recorder
    from .reload import Reloader
    from .router import Executor
    from .settings import Settings


@dataclass
class Gateway:
    """What requests need. ``pipeline`` is made from the others (create_app sets it last)."""

    settings: Settings
    policies: PolicyStore
    keys: KeyStore
    auth: Authenticator
    health: HealthBoard
    executor: Executor
    metrics: Metrics
    decisions: DecisionLog
    facts: FactsBuilder
    admission: Admission
    recorder: Recorder
    lifecycle: Lifecycle
    ledger: Ledger | None = None  # None when the ledger is turned off (settings.ledger)
    pipeline: Pipeline = field(init=False)
    reloader: Reloader = field(init=False)
    audit: Any = None  # gateway/audit.py AuditLog, when the database holds one
    model_alerts: Any = None  # gateway/model_alerts.py ModelAlerts (rules from settings.model_alerts)
    ramp_guards: Any = None  # gateway/ramp_guard.py RampGuards: holds guarded ramps after decide


__all__ = ["Gateway"]
