"""OpenAI-shaped bodies for the HTTP/1.1 errors Hypercorn answers itself, before the app sees a request.

A request h11 cannot parse — headers over ``h11_max_incomplete_size`` (431), a negative or malformed
Content-Length, a bad chunk size, a malformed request line (400) — is answered inside Hypercorn's
``H11Protocol._send_error_response`` with ``content-length: 0``. Hypercorn offers no hook for that answer
(no config option, nothing reaches the ASGI app: for a bad chunk mid-body the app only sees a disconnect),
so `install()` wraps that one private method to send the same status with OpenAI's JSON error body:

    {"error": {"message": "...", "type": "invalid_request_error", "param": null, "code": "..."}}

The wrap is checked, not assumed: it is installed only when the method exists with the signature it
wraps (Hypercorn 0.17-0.18), and it builds the response from h11 events exactly as the original does, so
on any other Hypercorn the stock empty answer stays (`install()` returns False and says why in the log).
HTTP/2 and HTTP/3 protocol errors are connection-level (RST_STREAM / GOAWAY frames) and carry no body in
any server; they are left alone.
"""
from __future__ import annotations

import inspect
import json
import logging
from itertools import chain
from typing import Any

log = logging.getLogger("open_router.app")

MESSAGES = {
    400: ("The request could not be parsed as HTTP/1.1 (malformed request line, headers, Content-Length "
          "or chunked framing).", "bad_request"),
    413: ("The request is larger than the server accepts.", "request_too_large"),
    414: ("The request URL is too long.", "uri_too_long"),
    431: ("The request's headers are too large.", "request_header_fields_too_large"),
    501: ("The request uses a transfer coding the server does not implement.", "not_implemented"),
    505: ("The HTTP version of the request is not supported.", "http_version_not_supported"),
}


def error_body(status: int) -> bytes:
    """The JSON body answered for a protocol error of ``status``."""
    message, code = MESSAGES.get(status, ("The request could not be processed.", "bad_request"))
    kind = "invalid_request_error" if status < 500 else "server_error"
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}},
                      separators=(",", ":")).encode()


def install() -> bool:
    """Wrap Hypercorn's HTTP/1.1 error answer (idempotent). False when this Hypercorn is not the one the
    wrap was written for (then its empty answers stay)."""
    try:
        import h11
        from hypercorn.protocol.h11 import H11Protocol
    except ImportError:  # pragma: no cover - hypercorn is a dependency
        return False
    original = getattr(H11Protocol, "_send_error_response", None)
    if original is None or not callable(getattr(H11Protocol, "_send_h11_event", None)):
        log.info("hypercorn has no _send_error_response: protocol errors keep its empty bodies")
        return False
    if getattr(original, "__open_router__", False):
        return True
    params = list(inspect.signature(original).parameters)
    if params != ["self", "status_code"]:
        log.info("hypercorn's _send_error_response is not the one wrapped: protocol errors keep empty bodies")
        return False

    async def _send_error_response(self: Any, status_code: int) -> None:
        body = error_body(status_code)
        headers = list(chain(
            [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
             (b"connection", b"close")],
            self.config.response_headers("h11"),
        ))
        await self._send_h11_event(h11.Response(status_code=status_code, headers=headers))
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())

    _send_error_response.__open_router__ = True  # type: ignore[attr-defined]
    H11Protocol._send_error_response = _send_error_response  # type: ignore[method-assign]
    return True


__all__ = ["error_body", "install"]
