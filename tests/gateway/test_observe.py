"""Observability: the decision log and log configuration."""
from __future__ import annotations


def test_the_decision_log_is_not_quieted_by_the_log_level() -> None:
    """OPEN_ROUTER_LOG_LEVEL=warning quiets diagnostics; the decision log still records every request."""
    import io
    import logging

    from gateway.observe import DECISIONS_LOGGER, DecisionLog, configure_logging

    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    decisions = logging.getLogger(DECISIONS_LOGGER)
    saved_dec = (decisions.level, list(decisions.handlers), decisions.propagate)
    out = io.StringIO()
    try:
        configure_logging("WARNING", "text", stream=out)
        logging.getLogger("open_router.app").info("not shown")
        DecisionLog(enabled=True).emit({"request_id": "req_1", "rule": "default"})
        DecisionLog(enabled=False).emit({"request_id": "req_2", "rule": "default"})
    finally:
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
        decisions.setLevel(saved_dec[0])
        decisions.handlers[:] = saved_dec[1]
        decisions.propagate = saved_dec[2]
    lines = out.getvalue().splitlines()
    assert lines == ['{"request_id":"req_1","rule":"default"}']
