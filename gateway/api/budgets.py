"""GET /admin/budgets: every budget of the live policy with its spent, reserved, cap, remaining, period
start and reset, and state; and how admission is set up (store, shared or per process, healthy, fail open
or closed). Guarded by the admin key like the rest of /admin/*.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from quart import Quart, Response, request

from ..auth import check_admin
from ..errors import BudgetStoreUnavailable
from ..http import json_response

if TYPE_CHECKING:
    from ..context import Gateway


def register(app: Quart, gw: Gateway) -> None:
    @app.get("/admin/budgets")
    async def budgets() -> Response:
        check_admin(request.headers, gw.settings.admin_key)
        admission = gw.admission
        policy = gw.policies.current.policy
        status = getattr(admission, "status", None)
        if status is None:
            return json_response({"object": "list", "admission": {"store": None}, "data": []})
        from ..limits import StoreError

        describe = admission.describe()  # type: ignore[attr-defined]
        try:
            data = await status(policy.budgets)
        except StoreError:
            admission.store.healthy = False  # type: ignore[attr-defined]
            raise BudgetStoreUnavailable("The budget store is unavailable; budget status cannot be read.") from None
        return json_response({"object": "list", "admission": describe, "policy_version": gw.policies.version,
                              "data": data})
