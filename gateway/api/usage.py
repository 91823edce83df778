"""Usage from the ledger over HTTP.

    GET /admin/usage   the admin key: every scope. Query: by=team,model… period=YYYY-MM[-DD] | from=…&to=…,
                       and filters team, project, app, cost_center, model, provider, key, user, rule
    GET /admin/ledger  the admin key: the ledger writer's state (this worker's): queue, rows, spill files, errors
    GET /v1/usage      a virtual key: that key's own scope only — its team, narrowed to its project and app
                       when the key carries them. A filter naming another team, project or app is a 403;
                       the other filters narrow within the scope.

Both answer the report of gateway/billing/reports.py (groups and totals); bad parameters are OpenAI-shaped
400s naming the parameter. The query runs in a worker thread, off the event loop.
"""
from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, Mapping

from quart import Quart, Response, request

from ..auth import Principal, check_admin
from ..billing.reports import ReportError, parse_by, parse_period, report
from ..errors import InvalidRequest, PermissionDenied
from ..http import json_response

if TYPE_CHECKING:
    from ..context import Gateway

PARAMS = {"by", "period", "from", "to", "team", "project", "app", "cost_center", "cost-center", "model",
          "provider", "key", "user", "rule"}
FILTER_COLUMN = {"team": "team", "project": "project", "app": "app", "cost_center": "cost_center",
                 "cost-center": "cost_center", "model": "model", "provider": "provider", "key": "key_id",
                 "user": "user", "rule": "rule"}


def _query(args: Mapping[str, str]) -> tuple[list[str], Any, dict[str, str]]:
    unknown = sorted(set(args) - PARAMS)
    if unknown:
        raise InvalidRequest(f"Unrecognized query parameter: {unknown[0]}", param=unknown[0],
                             code="unknown_parameter")
    try:
        by = parse_by(args.get("by", ""))
        period = parse_period(args.get("period"), args.get("from"), args.get("to"))
    except ReportError as exc:
        raise InvalidRequest(str(exc), param=exc.param, code="invalid_value") from None
    filters = {FILTER_COLUMN[k]: v for k, v in args.items() if k in FILTER_COLUMN}
    return by, period, filters


def scope_filters(p: Principal, filters: dict[str, str]) -> dict[str, str]:
    """``filters`` held to the key's scope: 403 for a filter that reaches outside it."""
    own = {"team": p.team, "project": p.project, "app": p.app}
    for name, value in own.items():
        if value is None:
            continue
        asked = filters.get(name)
        if asked is not None and asked != value:
            raise PermissionDenied(f"This key's usage is limited to its own {name}; it cannot read "
                                   f"another {name}'s.", param=name, code="usage_scope")
        filters[name] = value
    return filters


def register(app: Quart, gw: Gateway) -> None:
    engine = gw.keys.engine

    async def answer(by: list[str], period: Any, filters: dict[str, str], scope: dict[str, Any]) -> Response:
        data = await asyncio.to_thread(report, engine, by, period, filters)
        data["scope"] = scope
        return json_response(data)

    @app.get("/admin/usage")
    async def admin_usage() -> Response:
        check_admin(request.headers, gw.settings.admin_key)
        by, period, filters = _query(request.args)
        return await answer(by, period, filters, {"all": True})

    @app.get("/admin/ledger")
    async def admin_ledger() -> Response:
        """The ledger writer of the process that answers: queue depth, rows written / spilled / replayed,
        spill files, failed flushes, the last flush error (its type and time, never a URL)."""
        check_admin(request.headers, gw.settings.admin_key)
        ledger = getattr(gw, "ledger", None)
        if ledger is None:
            return json_response({"enabled": False})
        st = await asyncio.to_thread(ledger.status)  # lists the spill directory
        return json_response({"enabled": True, "pid": os.getpid(), **st})

    @app.get("/v1/usage")
    async def own_usage() -> Response:
        p = await gw.auth.authenticate(request.headers)
        by, period, filters = _query(request.args)
        filters = scope_filters(p, filters)
        return await answer(by, period, filters, {"team": p.team, "project": p.project, "app": p.app})


__all__ = ["register", "scope_filters"]
