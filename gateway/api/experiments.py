"""GET /admin/experiments/RULE — the A/B report of one rule's arms (gateway/billing/experiments.py), for the
admin key. Query: period=YYYY-MM[-DD] | from=…&to=…, baseline=ARM. Bad parameters are OpenAI-shaped 400s;
the query runs in a worker thread, off the event loop."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from quart import Quart, Response, request

from ..auth import check_admin
from ..billing.experiments import experiment_report
from ..billing.reports import ReportError, parse_period
from ..errors import InvalidRequest
from ..http import json_response

if TYPE_CHECKING:
    from ..context import Gateway

PARAMS = {"period", "from", "to", "baseline"}


def register(app: Quart, gw: Gateway) -> None:
    @app.get("/admin/experiments/<rule>")
    async def experiment(rule: str) -> Response:
        check_admin(request.headers, gw.settings.admin_key)
        args = request.args
        unknown = sorted(set(args) - PARAMS)
        if unknown:
            raise InvalidRequest(f"Unrecognized query parameter: {unknown[0]}", param=unknown[0],
                                 code="unknown_parameter")
        try:
            period = parse_period(args.get("period"), args.get("from"), args.get("to"))
        except ReportError as exc:
            raise InvalidRequest(str(exc), param=exc.param, code="invalid_value") from None
        data = await asyncio.to_thread(experiment_report, gw.keys.engine, rule, period, args.get("baseline"))
        return json_response(data)


__all__ = ["register"]
